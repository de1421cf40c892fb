import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";

let etcdA: TestEtcd;
let etcdB: TestEtcd;
const cleanup: (() => Promise<void>)[] = [];
before(async () => {
  [etcdA, etcdB] = await Promise.all([startEtcd(), startEtcd()]);
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await Promise.all([etcdA.close(), etcdB.close()]);
});

function fileConfig(endpoint: string, prefix: string, fileRoutes = ""): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
${fileRoutes}
config:
  etcd: { endpoints: [ ${endpoint} ], prefix: ${prefix}, cache: etcd-cache.json }
`;
}

async function proxyOn(yaml: string): Promise<TestProxy> {
  const p = await startProxy(yaml, { watch: true });
  cleanup.push(p.close);
  return p;
}

const names = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);
const route = (path: string) => JSON.stringify({ listener: "agi", pool: "p", match: { path } });

/** Polls an async condition (an etcd read) until it holds, bounded in time. */
async function eventually(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("a reload that points config.etcd at another etcd reads it, switches, follows it, moves the cluster record", async (t) => {
  const prefix = "/sw/";
  await etcdA.put(`${prefix}routes/ra`, route("/a"));
  await etcdB.put(`${prefix}routes/rb`, route("/b"));
  const p = await proxyOn(fileConfig(etcdA.endpoint, prefix));
  assert.deepEqual(names(p), ["ra"]);
  const id = p.proxy.cluster!.id;
  const recordIn = async (e: TestEtcd) => (await e.client.get(`${prefix}proxies/${id}`).string()) !== null;
  await eventually(() => recordIn(etcdA), 5_000, "record in A");

  const t0 = Date.now();
  p.writeConfig(fileConfig(etcdB.endpoint, prefix));
  await until(() => names(p).join() === "rb", 10_000, "routes of etcd B");
  t.diagnostic(
    `config.etcd switched to another etcd in ${Date.now() - t0} ms (file change to routes applied)`,
  );
  await p.waitForLog(
    (r) => r.event === "config_source" && r.msg === "config.etcd changed: now reading the new etcd",
  );
  assert.deepEqual(p.proxy.source.view().endpoints, [etcdB.endpoint]);
  assert.equal(p.proxy.source.view().state, "up");

  // The new etcd is followed; the old one no longer is.
  await etcdA.put(`${prefix}routes/ra2`, route("/a2"));
  await etcdB.put(`${prefix}routes/rb2`, route("/b2"));
  await until(() => names(p).includes("rb2"), 5_000, "route put in B applied");
  assert.deepEqual(names(p), ["rb", "rb2"]);

  // The cluster record left A (lease revoked) and is in B.
  await eventually(() => recordIn(etcdB), 5_000, "record in B");
  await eventually(async () => !(await recordIn(etcdA)), 5_000, "record gone from A");
});

test("a reload naming an etcd that cannot be read keeps the old one and says so; the rest of the reload applies", async () => {
  const prefix = "/kp/";
  await etcdA.put(`${prefix}routes/ka`, route("/ka"));
  const p = await proxyOn(fileConfig(etcdA.endpoint, prefix));
  assert.deepEqual(names(p), ["ka"]);
  p.writeConfig(
    fileConfig(
      "http://127.0.0.1:1",
      prefix,
      "routes: [ { name: extra, listener: agi, match: { path: /x }, pool: p } ]",
    ),
  );
  const line = await p.waitForLog((r) => r.event === "config_source" && r.level === "warn", 15_000);
  assert.equal(line.msg, "config.etcd changed but the new etcd cannot be read: keeping the old one");
  assert.deepEqual(line.endpoints, ["http://127.0.0.1:1"]);
  assert.equal(typeof line.error, "string");
  await until(() => names(p).includes("extra"), 5_000, "the file's part of the reload");
  assert.deepEqual(names(p), ["extra", "ka"]);
  assert.deepEqual(p.proxy.source.view().endpoints, [etcdA.endpoint]);
  // Still following the old etcd.
  await etcdA.put(`${prefix}routes/kb`, route("/kb"));
  await until(() => names(p).includes("kb"), 5_000, "route put in the old etcd applied");
});

test("removing config.etcd is said once (restart to apply); etcd goes on serving and being followed", async () => {
  const prefix = "/rm/";
  await etcdA.put(`${prefix}routes/ra`, route("/ra"));
  const p = await proxyOn(fileConfig(etcdA.endpoint, prefix));
  p.writeConfig(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
routes: [ { name: fileonly, listener: agi, match: { path: /f }, pool: p } ]
`);
  const line = await p.waitForLog((r) => r.event === "config_source" && r.level === "warn", 10_000);
  assert.equal(line.msg, "config.etcd changed: restart to apply");
  assert.equal(line.error, "config.etcd removed");
  await until(() => names(p).includes("fileonly"), 5_000, "the file's part of the reload");
  assert.deepEqual(names(p), ["fileonly", "ra"]);
  await etcdA.put(`${prefix}routes/rb`, route("/rb"));
  await until(() => names(p).includes("rb"), 5_000, "etcd still followed");
  const said = p.logs.filter((r) => r.msg === "config.etcd changed: restart to apply");
  assert.equal(said.length, 1);
});
