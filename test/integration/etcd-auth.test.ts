import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";

const PASSWORD = "s3cret-root";
let etcd: TestEtcd;
const cleanup: (() => Promise<void>)[] = [];
before(async () => {
  etcd = await startEtcd({ rootPassword: PASSWORD });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
});

function fileConfig(prefix: string, password: string): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
routes: [ { name: fileroute, listener: agi, match: { path: /file }, pool: p } ]
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: etcd-cache.json, user: root, password: "${password}" }
`;
}

async function proxyOn(yaml: string): Promise<TestProxy> {
  const p = await startProxy(yaml, { watch: true });
  cleanup.push(p.close);
  return p;
}

const names = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);
const route = (path: string) => JSON.stringify({ listener: "agi", pool: "p", match: { path } });

test("with auth on, the right user and password read and follow etcd's routes", async () => {
  await etcd.put("/auth1/routes/first", route("/first"));
  const p = await proxyOn(fileConfig("/auth1/", PASSWORD));
  assert.deepEqual(names(p), ["fileroute", "first"]);
  assert.equal(p.proxy.source.view().state, "up");
  await etcd.put("/auth1/routes/second", route("/second"));
  await until(() => names(p).includes("second"), 5_000, "route put under auth applied");
});

test("a wrong password is a down source with etcd's reason; the file serves", async () => {
  await etcd.put("/auth2/routes/unseen", route("/unseen"));
  const p = await proxyOn(fileConfig("/auth2/", "wrong"));
  assert.deepEqual(names(p), ["fileroute"]);
  const v = p.proxy.source.view();
  assert.equal(v.state, "down");
  assert.match(v.last_error ?? "", /authentication failed/);
  const line = await p.waitForLog((r) => r.event === "config_source" && r.state === "down");
  assert.match(String(line.error), /authentication failed/);
});
