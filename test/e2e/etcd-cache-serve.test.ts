// A `trunkline run` started while etcd is down serves the routes and pools of its cache file
// through a real request: a running proxy read them from etcd and wrote the cache; etcd
// stops; a second process with the same cache path and the same (now dead) endpoint starts,
// and a GET through its http listener reaches the origin. /api/v1/status and /metrics say
// the content comes from the cache and etcd is down.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { StatusView } from "../../src/observe/admin/types.ts";
import { type Running, startCli } from "../helpers/cli.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { get as httpGet, startOrigin } from "../helpers/http-origin.ts";
import { freePort } from "../helpers/ports.ts";

let etcd: TestEtcd;
const dir = mkdtempSync(join(tmpdir(), "trunkline-cache-serve-"));
const cleanup: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Proxy {
  readonly run: Running;
  readonly http: number;
  readonly admin: string;
}

/**
 * A `trunkline run` with an http listener and an admin, no route nor pool of its own: all it
 * routes comes from etcd (or from the cache at `cache`).
 */
async function proxy(name: string, prefix: string, cache: string): Promise<Proxy> {
  const http = await freePort();
  const adminPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:${http} } ]
admin: { listen: 127.0.0.1:${adminPort} }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: ${cache} }
`,
  );
  const run = startCli(["run", "-c", file]);
  cleanup.push(async () => {
    run.child.kill("SIGTERM");
    await run.exited(10_000).catch(() => run.kill());
  });
  await run.waitFor((l) => l.msg === "trunkline started", 30_000);
  return { run, http, admin: `http://127.0.0.1:${adminPort}` };
}

async function admin(p: Proxy, path: string): Promise<string> {
  const r = await fetch(`${p.admin}${path}`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(r.status, 200, path);
  return r.text();
}
const status = async (p: Proxy) => JSON.parse(await admin(p, "/api/v1/status")) as StatusView;

/** The value of one series in a Prometheus text page (undefined when absent). */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls `cond` every 25 ms until it holds; bounded in time and count. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 10_000,
): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > limitMs || i > 100_000) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("a proxy started while etcd is down serves its cached route and pool: a GET through it reaches the origin", {
  timeout: 90_000,
}, async (t) => {
  const origin = await startOrigin(t, "cached-origin");
  const prefix = "/cacheserve/";
  const cache = join(dir, "shared-cache.json");
  await etcd.put(
    `${prefix}pools/app`,
    JSON.stringify({ balance: "round-robin", servers: [{ address: `127.0.0.1:${origin.port}` }] }),
  );
  await etcd.put(
    `${prefix}routes/app`,
    JSON.stringify({ listener: "web", match: { host: "app.test" }, pool: "app" }),
  );

  // The first proxy reads etcd, serves the route and writes the cache.
  const first = await proxy("first", prefix, cache);
  await until(
    async () => (await status(first)).routes.some((r) => r.name === "app"),
    "route on the first proxy",
  );
  const live = await httpGet(first.http, "/live", { host: "app.test" });
  assert.equal(live.status, 200);
  await until(
    () =>
      existsSync(cache) &&
      /routes\/app/.test(readFileSync(cache, "utf8")) &&
      /pools\/app/.test(readFileSync(cache, "utf8")),
    "cache written with the route and the pool",
  );
  const cached = JSON.parse(readFileSync(cache, "utf8")) as { revision: number; kvs: Record<string, string> };
  assert.ok(cached.revision > 0);
  assert.deepEqual(Object.keys(cached.kvs).sort(), [`${prefix}pools/app`, `${prefix}routes/app`]);

  await etcd.stop();
  // The running proxy keeps its last good config and says etcd is down, in the metric too.
  await until(
    async () => (await status(first)).config_source.state === "down",
    "first proxy sees etcd down",
    15_000,
  );
  assert.equal(metric(await admin(first, "/metrics"), 'trunkline_config_source_up{kind="etcd"}'), 0);
  assert.equal((await httpGet(first.http, "/still", { host: "app.test" })).status, 200);

  // A second process, same cache path, etcd unreachable at its start.
  const t0 = Date.now();
  const second = await proxy("second", prefix, cache);
  const startMs = Date.now() - t0;
  const before = origin.requests;
  const r = await httpGet(second.http, "/through-the-cache", { host: "app.test" });
  assert.equal(r.status, 200, r.body);
  const echoed = JSON.parse(r.body) as { origin: string; url: string };
  assert.equal(echoed.origin, "cached-origin");
  assert.equal(echoed.url, "/through-the-cache");
  assert.equal(r.headers["x-origin"], "cached-origin");
  assert.equal(origin.requests, before + 1, "the request reached the origin");
  // A host the cache has no route for is not served: the 200 above is the cached route's.
  assert.equal((await httpGet(second.http, "/", { host: "other.test" })).status, 404);

  const s = await status(second);
  assert.equal(s.config_source.kind, "etcd");
  assert.equal(s.config_source.state, "down");
  assert.equal(s.config_source.from_cache, true);
  assert.equal(s.config_source.revision, cached.revision, "runs the cache's revision");
  assert.ok(s.config_source.last_error, "says why etcd is down");
  assert.deepEqual(
    s.routes.map((x) => x.name),
    ["app"],
  );
  const m = await admin(second, "/metrics");
  assert.equal(metric(m, 'trunkline_config_source_up{kind="etcd"}'), 0);
  assert.equal(metric(m, 'trunkline_config_source_revision{kind="etcd"}'), cached.revision);
  const line = await second.run.waitFor((l) => l.event === "config_source", 5_000);
  assert.equal(line.state, "down");
  assert.match(String(line.msg), /serving its cached content/);
  assert.equal(line.cache, cache);
  t.diagnostic(
    `second proxy started with etcd down in ${startMs} ms; served GET from the cache (revision ${cached.revision})`,
  );
});
