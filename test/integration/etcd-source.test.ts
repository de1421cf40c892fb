import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { type AgiServer, startAgiServer } from "../helpers/upstreams.ts";

let etcd: TestEtcd;
let a: AgiServer;
let b: AgiServer;
const cleanup: (() => Promise<void>)[] = [];
before(async () => {
  etcd = await startEtcd();
  a = await startAgiServer({ commands: ["NOOP"] });
  b = await startAgiServer({ commands: ["NOOP"] });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await a.close();
  await b.close();
  await etcd.close();
});

/** A file with one FastAGI listener and one pool; routes come from etcd under `prefix`. */
function fileConfig(prefix: string, extra = ""): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
pools:
  filepool: { servers: [ { address: 127.0.0.1:${a.port} } ] }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: etcd-cache.json }
${extra}`;
}

async function proxyOn(prefix: string, extra = ""): Promise<TestProxy> {
  const p = await startProxy(fileConfig(prefix, extra), { watch: true });
  cleanup.push(p.close);
  return p;
}

const routeNames = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);

test("a route and a pool put in etcd apply within 1 s, in key order after the file's routes", async () => {
  const prefix = "/t1/";
  await etcd.put(
    `${prefix}pools/etcdpool`,
    JSON.stringify({ servers: [{ address: `127.0.0.1:${b.port}` }] }),
  );
  const p = await proxyOn(
    prefix,
    "routes: [ { name: fileroute, listener: agi, match: { path: /file }, pool: filepool } ]",
  );
  assert.deepEqual(routeNames(p), ["fileroute"]);
  const t0 = Date.now();
  await etcd.put(`${prefix}routes/b-second`, "listener: agi\nmatch: { path: /b }\npool: etcdpool\n");
  await etcd.put(`${prefix}routes/a-first`, '{"listener":"agi","match":{"path":"/a"},"pool":"filepool"}');
  await until(() => routeNames(p).length === 3, 3000, "etcd routes applied");
  const ms = Date.now() - t0;
  assert.ok(ms < 1000, `applied in ${ms} ms`);
  assert.deepEqual(routeNames(p), ["fileroute", "a-first", "b-second"]);
  const r = await agiCall({ port: p.port(), url: "agi://x/b" });
  assert.equal(r.status, "SUCCESS");
  assert.equal(b.stats.sessions, 1);
  await etcd.del(`${prefix}routes/b-second`);
  await until(() => routeNames(p).length === 2, 3000, "deleted route gone");
});

test("an invalid key is reported with its key and reason and ignored; the rest applies", async () => {
  const prefix = "/t2/";
  await etcd.put(`${prefix}routes/good`, JSON.stringify({ listener: "agi", pool: "filepool" }));
  await etcd.put(`${prefix}routes/badyaml`, "listener: [unclosed");
  await etcd.put(`${prefix}routes/nopool`, JSON.stringify({ listener: "agi", pool: "missing" }));
  await etcd.put(`${prefix}pools/filepool`, JSON.stringify({ servers: [{ address: "127.0.0.1:1" }] }));
  const p = await proxyOn(prefix);
  assert.deepEqual(routeNames(p), ["good"]);
  const st = p.proxy.source.view();
  assert.equal(st.kind, "etcd");
  assert.equal(st.state, "up");
  const reasons = st.invalid_keys.map((k) => k.reason).sort();
  assert.equal(reasons.length, 3, JSON.stringify(reasons));
  assert.match(reasons.join("\n"), /etcd:\/t2\/routes\/badyaml \(root\): not YAML/);
  assert.match(reasons.join("\n"), /etcd:\/t2\/routes\/nopool pool: no pool named "missing"/);
  assert.match(reasons.join("\n"), /etcd:\/t2\/pools\/filepool \(root\): pool "filepool" is already defined/);
  await p.waitForLog((r) => r.event === "config_invalid_key" && r.key === `${prefix}routes/nopool`);
  // Fixing the key applies it.
  await etcd.put(`${prefix}routes/nopool`, JSON.stringify({ listener: "agi", pool: "filepool" }));
  await until(() => routeNames(p).includes("nopool"), 3000, "fixed key applied");
  assert.equal(p.proxy.source.view().invalid_keys.length, 2);
});
