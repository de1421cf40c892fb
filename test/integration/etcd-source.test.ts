import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { EtcdProvider } from "../../src/config/providers/etcd/provider.ts";
import { FileProvider } from "../../src/config/providers/file.ts";
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

test("status and metrics say where the config comes from: etcd's revision and the ignored keys", async () => {
  const prefix = "/t3/";
  await etcd.put(`${prefix}routes/bad`, "listener: nope");
  const rev = await etcd.put(`${prefix}routes/good`, JSON.stringify({ listener: "agi", pool: "filepool" }));
  const p = await proxyOn(prefix);
  const r = await fetch(`http://127.0.0.1:${p.proxy.adminAddress!.port}/api/v1/status`);
  const st = (await r.json()) as { config_source: Record<string, unknown> };
  assert.equal(st.config_source.kind, "etcd");
  assert.equal(st.config_source.state, "up");
  assert.equal(st.config_source.prefix, prefix);
  assert.deepEqual(st.config_source.endpoints, [etcd.endpoint]);
  assert.ok((st.config_source.revision as number) >= rev);
  assert.equal(st.config_source.last_error, null);
  assert.equal((st.config_source.invalid_keys as unknown[]).length, 1);
  const m = await p.proxy.metrics!.text();
  assert.match(m, /^trunkline_config_source_up\{kind="etcd"\} 1$/m);
  // The store's revision moves on with other proxies' lease writes: at least what status said.
  const mrev = Number(/^trunkline_config_source_revision\{kind="etcd"\} (\d+)$/m.exec(m)?.[1]);
  assert.ok(mrev >= (st.config_source.revision as number), `metric revision ${mrev}`);
  assert.match(m, /^trunkline_config_invalid_keys 1$/m);
});

test("a file-only proxy reports kind file, always up, and has no cluster", async () => {
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { listener: agi, pool: x } ]
pools: { x: { servers: [ { address: 127.0.0.1:1 } ] } }
`);
  cleanup.push(p.close);
  const base = `http://127.0.0.1:${p.proxy.adminAddress!.port}/api/v1`;
  const st = (await (await fetch(`${base}/status`)).json()) as { config_source: Record<string, unknown> };
  assert.deepEqual(st.config_source, {
    kind: "file",
    endpoints: [],
    prefix: null,
    state: "up",
    revision: null,
    from_cache: false,
    last_error: null,
    invalid_keys: [],
  });
  assert.equal((await fetch(`${base}/cluster`)).status, 404);
});

test("gogeta keys are watched; a wake event writes started into the passivated instances' keys only", async () => {
  const prefix = "/t4/";
  await etcd.put("/g4/domains/app.example.com/type", "service");
  await etcd.put("/g4/domains/app.example.com/value", "app");
  await etcd.put("/g4/services/app/1/location", JSON.stringify({ host: "10.0.0.1", port: 80 }));
  await etcd.put("/g4/services/app/1/status/current", "stopped");
  await etcd.put("/g4/services/app/1/status/expected", "passivated");
  // The routes need the http listener (not in this test's file): the overlay is what is checked.
  const q = await startProxy(
    fileConfig(prefix).replace(
      "cache: etcd-cache.json }",
      "cache: etcd-cache.json, gogeta: { domains: /g4/domains, services: /g4/services, listener: web } }",
    ),
    { watch: true },
  );
  cleanup.push(q.close);
  const provider = q.proxy.source.provider!;
  const overlay = provider.overlay("");
  const route = overlay.routes.find((r) => r.key === "/g4/domains/app.example.com");
  assert.deepEqual((route?.value as { wake?: string[] } | undefined)?.wake, [
    "/g4/services/app/1/status/expected",
  ]);
  await etcd.put("/g4/services/app/2/location", JSON.stringify({ host: "10.0.0.2", port: 80 }));
  await etcd.put("/g4/services/app/2/status/current", "starting");
  await etcd.put("/g4/services/app/2/status/expected", "started");
  await until(
    () => (provider.overlay("").routes[0]?.value as { status?: string } | undefined)?.status === "starting",
    3000,
    "gogeta change seen",
  );
  q.proxy.events.emit("http.wake", {
    listener: "web",
    route: "gogeta:app.example.com",
    service: "app",
    keys: ["/g4/services/app/1/status/expected", "/t4/routes/not-a-wake-key"],
  });
  await q.waitForLog((r) => r.event === "wake" && r.key === "/g4/services/app/1/status/expected");
  assert.equal(await etcd.client.get("/g4/services/app/1/status/expected").string(), "started");
  assert.equal(await etcd.client.get("/t4/routes/not-a-wake-key").string(), null);
});

test("a gogeta heartbeat rewritten changes no route and asks for no reload; a real change does", async () => {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-etcd-hb-"));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "t.yaml");
  writeFileSync(file, "listeners: []\n");
  await etcd.put("/g5/domains/hb.example.com/type", "service");
  await etcd.put("/g5/domains/hb.example.com/value", "hb");
  await etcd.put("/g5/services/hb/1/location", JSON.stringify({ host: "10.0.0.1", port: 80 }));
  await etcd.put("/g5/services/hb/1/status/current", "started");
  await etcd.put("/g5/services/hb/1/status/expected", "started");
  await etcd.put("/g5/services/hb/1/status/alive", "beat-0");
  const provider = new EtcdProvider(new FileProvider(file), {
    endpoints: [etcd.endpoint],
    prefix: "/t5/",
    cache: join(dir, "cache.json"),
    gogeta: { domains: "/g5/domains", services: "/g5/services", listener: "web" },
  });
  cleanup.push(() => provider.closed());
  await provider.start();
  const reasons: string[] = [];
  provider.watch((r) => reasons.push(r));
  await provider.read();
  const seen = (rev: number) =>
    until(() => provider.mirror.state.revision >= rev, 3000, `revision ${rev} seen`);
  await seen(await etcd.put("/g5/services/hb/1/status/alive", "beat-1"));
  await seen(await etcd.put("/g5/services/hb/1/status/alive", "beat-2"));
  assert.deepEqual(reasons, []);
  await seen(await etcd.put("/g5/services/hb/1/status/alive", ""));
  assert.deepEqual(
    reasons,
    ["etcd: /g5/services/hb/1/status/alive changed"],
    "an empty heartbeat: not routable",
  );
});

test("an etcd change that arrives while the YAML file is broken is rejected whole; fixing the file applies both", async () => {
  // The file and etcd make one config, validated and swapped whole (provider.ts).
  const prefix = "/t-broken-file/";
  const rejected = (r: LogRecord) => r.event === "reload" && r.level === "error";
  const good = fileConfig(
    prefix,
    "routes: [ { name: fileroute, listener: agi, match: { path: /file }, pool: filepool } ]",
  );
  await etcd.put(
    `${prefix}pools/etcdpool`,
    JSON.stringify({ servers: [{ address: `127.0.0.1:${b.port}` }] }),
  );
  const p = await startProxy(good, { watch: true });
  cleanup.push(p.close);
  assert.deepEqual(routeNames(p), ["fileroute"]);
  const generation = p.proxy.runtime.generation.number;
  const aBefore = a.stats.sessions;
  const bBefore = b.stats.sessions;

  // The file breaks (a port out of range): its own reload is rejected.
  const n0 = p.logs.filter(rejected).length;
  p.writeConfig(good.replace(`address: 127.0.0.1:${a.port}`, "address: 127.0.0.1:99999"));
  await p.waitForLog(() => p.logs.filter(rejected).length > n0, 5000);

  // Then a route arrives in etcd: the read is the broken file with it, so it is rejected too.
  const n1 = p.logs.filter(rejected).length;
  await etcd.put(`${prefix}routes/r1`, "listener: agi\nmatch: { path: /etcd }\npool: etcdpool\n");
  const r = await p.waitForLog(
    (x) => rejected(x) && String(x.reason).startsWith("etcd:") && p.logs.filter(rejected).length > n1,
    5000,
  );
  assert.match(String(r.error), /99999/, "the rejection names the file's problem");
  assert.deepEqual(routeNames(p), ["fileroute"], "nothing of the etcd change applied");
  assert.equal(p.proxy.runtime.generation.number, generation, "the running config is the one from before");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/file" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, aBefore + 1);

  // The file is fixed: the next read applies the file and the etcd route together.
  p.writeConfig(good);
  await until(() => routeNames(p).includes("r1"), 5000, "the etcd route applies once the file is good");
  assert.deepEqual(routeNames(p), ["fileroute", "r1"]);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/etcd" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, bBefore + 1);
});
