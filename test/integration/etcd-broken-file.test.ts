// The YAML file and etcd make one config, validated and swapped whole (provider.ts): an etcd
// change that arrives while the file is broken is rejected with it, the running config stays
// (nothing of the change applies), and the next good read applies both.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { type LogRecord, startProxy, type TestProxy, until } from "../helpers/proxy.ts";
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

const PREFIX = "/broken-file/";

function fileConfig(): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { name: fileroute, listener: agi, match: { path: /file }, pool: filepool } ]
pools:
  filepool: { servers: [ { address: 127.0.0.1:${a.port} } ] }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${PREFIX}, cache: etcd-cache.json }
`;
}

const rejected = (r: LogRecord) => r.event === "reload" && r.level === "error";
const routeNames = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);

test("an etcd change that arrives while the YAML file is broken is rejected whole; fixing the file applies both", async () => {
  await etcd.put(
    `${PREFIX}pools/etcdpool`,
    JSON.stringify({ servers: [{ address: `127.0.0.1:${b.port}` }] }),
  );
  const p = await startProxy(fileConfig(), { watch: true });
  cleanup.push(p.close);
  assert.deepEqual(routeNames(p), ["fileroute"]);
  const generation = p.proxy.runtime.generation.number;

  // The file breaks (a pool that names no server address): its own reload is rejected.
  const before = p.logs.filter(rejected).length;
  p.writeConfig(fileConfig().replace(`address: 127.0.0.1:${a.port}`, "address: 127.0.0.1:99999"));
  await p.waitForLog((r) => rejected(r) && p.logs.filter(rejected).length > before, 5000);

  // Then a route arrives in etcd: the read is the broken file with it, so it is rejected too.
  const seen = p.logs.filter(rejected).length;
  await etcd.put(`${PREFIX}routes/r1`, "listener: agi\nmatch: { path: /etcd }\npool: etcdpool\n");
  const r = await p.waitForLog(
    (x) => rejected(x) && String(x.reason).startsWith("etcd:") && p.logs.filter(rejected).length > seen,
    5000,
  );
  assert.match(String(r.error), /99999/, "the rejection names the file's problem");
  assert.deepEqual(routeNames(p), ["fileroute"], "nothing of the etcd change applied");
  assert.equal(p.proxy.runtime.generation.number, generation, "the running config is the one from before");
  // The running config still serves, from the file's good pool.
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/file" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 1);

  // The file is fixed: the next read applies the file and the etcd route together.
  p.writeConfig(fileConfig());
  await until(() => routeNames(p).includes("r1"), 5000, "the etcd route applies once the file is good");
  assert.deepEqual(routeNames(p), ["fileroute", "r1"]);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/etcd" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 1);
});
