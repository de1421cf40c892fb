// /metrics when a route's name was chosen by someone who can write etcd (no admin access
// needed): route names are any non-empty string (config/schema.ts routeCommon, and an etcd
// route's value may carry its own `name`), and the name is a label of trunkline_sessions_total.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { agiHeader, agiRaw } from "../helpers/obs-attack.ts";
import { parsePromText, total } from "../helpers/prom-text.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.close();
});

async function proxyWithEtcdRoutes(prefix: string, routes: Record<string, string>): Promise<TestProxy> {
  for (const [key, name] of Object.entries(routes))
    await etcd.put(
      `${prefix}routes/${key}`,
      JSON.stringify({ name, listener: "agi", match: { path: `^/${key}$` }, pool: "p" }),
    );
  // The pool's server refuses: each session ends at once, as a failure, and is counted.
  return startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: cache.json }
`);
}

async function scrape(p: TestProxy): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${p.proxy.adminAddress!.port}/metrics`, {
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(r.status, 200);
  return r.text();
}

async function session(p: TestProxy, path: string): Promise<void> {
  const before = p.sessions().length;
  await agiRaw(p.port(), agiHeader({ agi_request: `agi://127.0.0.1${path}`, agi_channel: "SIP/1" }));
  await until(() => p.sessions().length > before, 5000, `the session on ${path} ended`);
}

test("route names holding a quote and a backslash are escaped, one series each; a name with a newline (a fake sample line) is refused, the scrape parses", async (t) => {
  const forged = 'x"} 1\ntrunkline_fake_total 1e9\n# TYPE trunkline_fake_total counter\ny\\';
  const p = await proxyWithEtcdRoutes("/m1/", { a: forged, b: 'b\\n"' });
  t.after(p.close);
  // The route named with control characters is refused (its key reported), the rest applies.
  await until(
    () => p.logs.some((r) => JSON.stringify(r).includes("/m1/routes/a")),
    5000,
    "the refused key reported",
  );
  await session(p, "/a");
  await session(p, "/b");
  await until(() => p.sessions().length === 2, 5000, "two session lines");
  const text = await scrape(p);
  const e = parsePromText(text);
  assert.equal(e.families.has("trunkline_fake"), false, "no family from a route's name");
  assert.ok(!/^trunkline_fake_total/m.test(text), "no line starts with the forged name");
  assert.equal(
    total(e, "trunkline_sessions_total", { route: forged }),
    0,
    "the refused route routed nothing",
  );
  assert.equal(total(e, "trunkline_sessions_total", { route: 'b\\n"' }), 1);
  assert.equal(total(e, "trunkline_metrics_dropped_series_total"), 0);
});

// Fixed: route names with control characters are refused (config/schema.ts routeName).
// Was a defect: a session through a route whose name holds NUL is counted in trunkline_sessions_total under its name (or the name is refused, as a pool's is) — the route is taken and its sessions run, but every metric update for them is dropped (trunkline_metrics_dropped_series_total grows): NUL is the series-key separator SEP of src/observe/metrics-series.ts (Series#add drops a key with too many parts), whose comment wrongly says no config name can hold it; route names are checked only as non-empty (routeCommon in src/config/schema.ts, mergeOverlay in src/config/load.ts)
test("a route named with a NUL (written into etcd) cannot hide its sessions from trunkline_sessions_total", async (t) => {
  const p = await proxyWithEtcdRoutes("/m2/", { h: "hidden\u0000route" });
  t.after(p.close);
  const status = (await (
    await fetch(`http://127.0.0.1:${p.proxy.adminAddress!.port}/api/v1/status`, {
      signal: AbortSignal.timeout(5000),
    })
  ).json()) as { routes: { name: string }[] };
  const taken = status.routes.some((r) => r.name === "hidden\u0000route");
  if (!taken) return; // refused as a name: nothing can be hidden behind it
  for (let i = 0; i < 3; i++) await session(p, "/h");
  const e = parsePromText(await scrape(p));
  assert.equal(
    total(e, "trunkline_sessions_total", { listener: "agi" }),
    3,
    `3 sessions ran through the route; dropped updates: ${total(e, "trunkline_metrics_dropped_series_total")}`,
  );
});
