import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";

let etcd: TestEtcd;
const dir = mkdtempSync(join(tmpdir(), "trunkline-etcd-cache-"));
const cleanup: (() => Promise<void>)[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
  rmSync(dir, { recursive: true, force: true });
});

function fileConfig(prefix: string, cache: string): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: ${cache} }
`;
}

async function proxyOn(prefix: string, cache: string): Promise<TestProxy> {
  const p = await startProxy(fileConfig(prefix, cache), { watch: true });
  cleanup.push(p.close);
  return p;
}

const route = (name: string) => JSON.stringify({ listener: "agi", pool: "p", match: { path: `/${name}` } });
const names = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);

test("a change made while the watch was broken, then compacted away, still reaches the proxy", async () => {
  const prefix = "/gap/";
  await etcd.put(`${prefix}routes/before`, route("before"));
  const p = await proxyOn(prefix, join(dir, "gap.json"));
  assert.deepEqual(names(p), ["before"]);
  const watchedAt = p.proxy.source.view().revision!;

  await etcd.stop();
  await until(() => p.proxy.source.view().state === "down", 10_000, "proxy sees etcd down");
  await p.waitForLog((r) => r.event === "config_source" && r.state === "down");
  // Still serving the last good config.
  assert.deepEqual(names(p), ["before"]);

  await etcd.start();
  // Written while the proxy's watch is broken, then the history compacted past its revision:
  // resuming the old watch would fail; only a fresh read finds these.
  await etcd.put(`${prefix}routes/during`, route("during"));
  await etcd.del(`${prefix}routes/before`);
  for (let i = 0; i < 5; i++) await etcd.put(`${prefix}noise`, String(i));
  const compacted = await etcd.compact();
  assert.ok(compacted > watchedAt + 5);

  // Since the client has no 5 s lockout, the proxy may be back before the noise and the
  // compaction: then they come by the new watch, a moment after the route change
  // (test/e2e/etcd-outage-relay.test.ts holds the link cut through a compaction).
  await until(
    () => names(p).join() === "during" && (p.proxy.source.view().revision ?? 0) >= compacted,
    15_000,
    "the gap's changes applied",
  );
  const v = p.proxy.source.view();
  assert.equal(v.state, "up");
  assert.ok(v.revision! >= compacted, `revision ${v.revision} >= compacted ${compacted}`);
  // And the new watch works: a later change arrives as usual.
  await etcd.put(`${prefix}routes/after`, route("after"));
  await until(() => names(p).includes("after"), 3_000, "change after the outage");
});

test("a proxy started while etcd is down serves its cached content, then catches up", async () => {
  const prefix = "/cache/";
  const cache = join(dir, "cache.json");
  await etcd.put(`${prefix}routes/cached`, route("cached"));
  const first = await proxyOn(prefix, cache);
  assert.deepEqual(names(first), ["cached"]);
  await until(
    () => existsSync(cache) && readFileSync(cache, "utf8").includes("routes/cached"),
    3_000,
    "cache written",
  );
  await first.close();

  await etcd.stop();
  const t0 = Date.now();
  const p = await proxyOn(prefix, cache);
  const startMs = Date.now() - t0;
  assert.deepEqual(names(p), ["cached"], "routes from the cache");
  let v = p.proxy.source.view();
  assert.equal(v.state, "down");
  assert.equal(v.from_cache, true);
  assert.ok(v.last_error);
  await p.waitForLog((r) => r.event === "config_source" && /cached content/.test(r.msg));
  const metrics = await p.proxy.metrics!.text();
  assert.match(metrics, /trunkline_config_source_up\{kind="etcd"\} 0/);

  await etcd.start();
  await etcd.put(`${prefix}routes/later`, route("later"));
  await until(() => names(p).includes("later"), 15_000, "caught up once etcd is back");
  v = p.proxy.source.view();
  assert.equal(v.state, "up");
  assert.equal(v.from_cache, false);
  assert.match(await p.proxy.metrics!.text(), /trunkline_config_source_up\{kind="etcd"\} 1/);
  assert.ok(startMs < 8_000, `started in ${startMs} ms with etcd down`);
});

test("with etcd down and no cache, the proxy starts from the file alone", async () => {
  await etcd.stop();
  cleanup.push(() => etcd.start());
  const p = await startProxy(
    `${fileConfig("/none/", join(dir, "absent.json"))}routes: [ { name: fileonly, listener: agi, pool: p } ]\n`,
  );
  cleanup.push(p.close);
  assert.deepEqual(names(p), ["fileonly"]);
  assert.equal(p.proxy.source.view().state, "down");
  assert.equal(p.proxy.source.view().from_cache, false);
  await p.waitForLog((r) => r.event === "config_source" && /no cache/.test(r.msg));
});

test("with etcd down an operator change is refused (503 E_ADMIN_STORE_DOWN) and changes nothing", async () => {
  const p = await startProxy(
    `${fileConfig("/refused/", join(dir, "refused.json"))}admin: { listen: 127.0.0.1:0 }\nroutes: [ { listener: agi, pool: p } ]\n`,
  );
  cleanup.push(p.close);
  await etcd.stop();
  try {
    const t0 = Date.now();
    const r = await fetch(
      `http://127.0.0.1:${p.proxy.adminAddress!.port}/api/v1/pools/p/servers/127.0.0.1:1/drain`,
      {
        method: "POST",
      },
    );
    const ms = Date.now() - t0;
    assert.equal(r.status, 503);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "E_ADMIN_STORE_DOWN");
    assert.match(body.error.message, /etcd did not take the change/);
    assert.equal(p.proxy.runtime.registry.entries().next().value?.admin, "ready");
    assert.ok(ms < 8_000, `refused in ${ms} ms`);
  } finally {
    await etcd.start();
  }
});

test("closing a proxy while etcd hangs (SIGSTOP) takes a bounded time: its lease revoke does not wait for good", async () => {
  const p = await startProxy(
    `${fileConfig("/hang/", join(dir, "hang.json"))}routes: [ { listener: agi, pool: p } ]\n`,
  );
  // Polled (bounded) until the proxy's record is in etcd: its lease exists.
  let registered = false;
  for (const end = Date.now() + 10_000; !registered && Date.now() < end; ) {
    registered = (await etcd.client.getAll().prefix("/hang/proxies/").keys()).length === 1;
    if (!registered) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(registered, "the proxy's record in etcd within 10 s");
  const pid = etcd.pid;
  assert.ok(pid !== undefined);
  process.kill(pid, "SIGSTOP");
  try {
    const t0 = Date.now();
    await p.close();
    const ms = Date.now() - t0;
    assert.ok(ms < 8_000, `closed in ${ms} ms with etcd hanging`);
  } finally {
    process.kill(pid, "SIGCONT");
  }
});
