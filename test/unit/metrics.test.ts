import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { Counter, Histogram, Registry, register } from "prom-client";
import { EventBus } from "../../src/events/bus.ts";
import type { SessionEnded, TrunklineEvents } from "../../src/events/types.ts";
import { createMetrics, type MetricsServer, type MetricsSource } from "../../src/observe/metrics.ts";
import { counterFamily, histogramFamily } from "../../src/observe/metrics-cells.ts";
import { SEP } from "../../src/observe/metrics-series.ts";
import { parsePromText, select, total, value } from "../helpers/prom-text.ts";

function session(over: Partial<SessionEnded> = {}): SessionEnded {
  return {
    protocol: "fastagi",
    listener: "agi",
    client: "192.0.2.7:51234",
    request: "agi://pbx/ivr/main?lang=fr",
    upstreamRequest: undefined,
    route: "ivr",
    pool: "ivr",
    server: "10.0.0.11:4573",
    attempts: [],
    durationMs: 1500,
    setupMs: 2,
    bytesIn: 100,
    bytesOut: 200,
    outcome: "completed",
    ok: true,
    error: undefined,
    errorCode: undefined,
    ...over,
  };
}

function server(key: string, active: number): MetricsServer {
  return { key, admin: "ready", maxSessions: 0, active, isUp: () => true };
}

function source(bus: EventBus<TrunklineEvents>, servers: MetricsServer[], sessions: number): MetricsSource {
  return {
    events: bus,
    servers: () => servers,
    generation: () => ({
      number: 4,
      pools: new Map([["ivr", { servers: servers.map((s) => ({ key: s.key, weight: 1, server: s })) }]]),
    }),
    listeners: () => [{ config: { name: "agi", protocol: "fastagi" }, sessions }],
  };
}

// First in this file: it must see the process's first createMetrics().
test("process metrics are made once per process: one event-loop monitor and one GC observer for any number of proxies", async () => {
  const perf = createRequire(import.meta.url)("node:perf_hooks") as typeof import("node:perf_hooks");
  const monitor = perf.monitorEventLoopDelay;
  const observe = perf.PerformanceObserver.prototype.observe;
  let monitors = 0;
  let gcObservers = 0;
  // prom-client reads both from this same module object when collectDefaultMetrics runs.
  perf.monitorEventLoopDelay = (...a) => {
    monitors++;
    return monitor(...a);
  };
  perf.PerformanceObserver.prototype.observe = function (
    this: InstanceType<typeof perf.PerformanceObserver>,
    o,
  ) {
    if (o && "entryTypes" in o && o.entryTypes.includes("gc")) gcObservers++;
    return observe.call(this, o);
  };
  try {
    const all = [0, 1, 2].map(() => createMetrics(source(new EventBus(), [], 0)));
    for (const m of all) m.close();
    const again = createMetrics(source(new EventBus(), [], 0));
    again.close();
    assert.equal(monitors, 1);
    assert.equal(gcObservers, 1);
    const lag = (r: (typeof all)[number]) =>
      r.registry.getSingleMetric("trunkline_nodejs_eventloop_lag_seconds");
    assert.ok(lag(again));
    for (const m of all) assert.equal(lag(m), lag(again), "the same metric object in every registry");
    // And every registry still reports them.
    const e = parsePromText(await again.text());
    assert.ok(e.families.has("trunkline_process_resident_memory_bytes"));
  } finally {
    perf.monitorEventLoopDelay = monitor;
    perf.PerformanceObserver.prototype.observe = observe;
  }
});

test("two proxies' metrics do not mix: own registry, own events, own runtime views", async () => {
  const busA = new EventBus<TrunklineEvents>();
  const busB = new EventBus<TrunklineEvents>();
  const a = createMetrics(source(busA, [server("10.0.0.11:4573", 3)], 3));
  const b = createMetrics(source(busB, [server("10.0.0.12:4573", 0)], 0));
  busA.emit("session.end", session());
  busA.emit("session.end", session({ outcome: "client_gone", ok: false }));
  busA.emit("reload", { outcome: "applied", reason: "SIGHUP", source: "x.yaml", generation: 2 });
  const ea = parsePromText(await a.text());
  const eb = parsePromText(await b.text());
  assert.notEqual(a.registry, b.registry);
  assert.equal(total(ea, "trunkline_sessions_total"), 2);
  assert.equal(total(eb, "trunkline_sessions_total"), 0);
  assert.equal(total(ea, "trunkline_session_duration_seconds_count"), 2);
  assert.equal(total(eb, "trunkline_session_duration_seconds_count"), 0);
  assert.equal(value(ea, "trunkline_reloads_total", { outcome: "applied" }), 1);
  assert.equal(value(eb, "trunkline_reloads_total", { outcome: "applied" }), 0);
  assert.equal(value(ea, "trunkline_server_sessions_active", { server: "10.0.0.11:4573" }), 3);
  assert.equal(select(eb, "trunkline_server_sessions_active", { server: "10.0.0.11:4573" }).length, 0);
  assert.equal(value(eb, "trunkline_sessions_active", { listener: "agi", protocol: "fastagi" }), 0);
  assert.equal(register.getMetricsAsArray().length, 0, "prom-client's global registry stays empty");
  a.close();
  b.close();
});

test("close() unsubscribes: later events change nothing, the registry stays readable", async () => {
  const bus = new EventBus<TrunklineEvents>();
  const m = createMetrics(source(bus, [], 0));
  bus.emit("session.end", session());
  m.close();
  m.close();
  assert.equal(bus.has("session.end"), false);
  assert.equal(bus.has("health.probe"), false);
  bus.emit("session.end", session());
  const e = parsePromText(await m.text());
  assert.equal(total(e, "trunkline_sessions_total"), 1);
});

test("label sets are capped per metric: new ones beyond the cap are dropped and counted", async () => {
  const bus = new EventBus<TrunklineEvents>();
  const m = createMetrics(source(bus, [], 0), { maxSeries: 2 });
  for (const route of ["a", "b", "c", "a"]) bus.emit("session.end", session({ route }));
  const e = parsePromText(await m.text());
  assert.deepEqual(
    select(e, "trunkline_sessions_total").map((s) => [s.labels.route, s.value]),
    [
      ["a", 2],
      ["b", 1],
    ],
  );
  assert.equal(value(e, "trunkline_metrics_dropped_series_total", { metric: "trunkline_sessions_total" }), 1);
  // Other metrics of the same sessions have fewer label sets: nothing of theirs was dropped.
  assert.equal(total(e, "trunkline_session_duration_seconds_count"), 4);
  m.close();
});

test("attempts, failovers and targets: codes as results, and no address a route script could compute", async () => {
  const bus = new EventBus<TrunklineEvents>();
  const m = createMetrics(source(bus, [], 0));
  const failed = {
    server: "10.0.0.12:4573",
    error: "connect ECONNREFUSED 10.0.0.12:4573",
    code: "E_CONNECT_FAILED" as const,
  };
  bus.emit("session.end", session({ attempts: [failed] }));
  bus.emit(
    "session.end",
    session({
      server: undefined,
      setupMs: undefined,
      attempts: [failed, failed],
      outcome: "failure_no_server",
      ok: false,
    }),
  );
  // A route target (`to:` or a script's answer): no pool; its address is not a label.
  bus.emit("session.end", session({ route: "script", pool: undefined, server: "203.0.113.9:4573" }));
  bus.emit("health.probe", {
    server: "10.0.0.11:4573",
    pools: ["ivr"],
    check: "agent",
    ok: false,
    durationMs: 3,
    reason: "refused",
  });
  bus.emit("listener.error", {
    listener: "agi",
    code: "E_TLS_HANDSHAKE",
    error: "bad cert",
    client: "192.0.2.7:5",
  });
  const e = parsePromText(await m.text());
  const att = (pool: string, server: string, result: string) =>
    value(e, "trunkline_upstream_attempts_total", { pool, server, result });
  assert.equal(att("ivr", "10.0.0.12:4573", "E_CONNECT_FAILED"), 3);
  assert.equal(att("ivr", "10.0.0.11:4573", "ok"), 1);
  assert.equal(att("", "", "ok"), 1);
  assert.equal(value(e, "trunkline_upstream_failovers_total", { pool: "ivr" }), 1);
  assert.equal(
    value(e, "trunkline_session_setup_seconds_count", { listener: "agi", protocol: "fastagi" }),
    2,
  );
  assert.equal(
    value(e, "trunkline_sessions_total", {
      listener: "agi",
      protocol: "fastagi",
      route: "script",
      pool: "",
      server: "",
      outcome: "completed",
    }),
    1,
  );
  assert.equal(
    value(e, "trunkline_health_probes_total", { server: "10.0.0.11:4573", check: "agent", result: "fail" }),
    1,
  );
  assert.equal(value(e, "trunkline_listener_errors_total", { listener: "agi", code: "E_TLS_HANDSHAKE" }), 1);
  const values = e.samples.flatMap((s) => Object.values(s.labels));
  for (const bad of ["192.0.2.7", "203.0.113.9", "ECONNREFUSED", "/ivr", "bad cert"])
    assert.ok(!values.some((v) => v.includes(bad)), bad);
  m.close();
});

test("cell histograms and counters print what prom-client's own would for the same observations", async () => {
  const mine = new Registry();
  const theirs = new Registry();
  const fam = { registry: mine, limit: 100, dropped: () => {} };
  const bounds = [0.001, 0.01, 0.1, 1];
  const h = histogramFamily(fam, "t_seconds", "help", ["a", "b"], bounds);
  const c = counterFamily(fam, "t_total", "help", ["a"]);
  const ph = new Histogram({
    name: "t_seconds",
    help: "help",
    labelNames: ["a", "b"],
    buckets: bounds,
    registers: [theirs],
  });
  const pc = new Counter({ name: "t_total", help: "help", labelNames: ["a"], registers: [theirs] });
  // On a bound (le is inclusive), between bounds, above the last, zero; two label sets.
  const obs: [string, string, number][] = [
    ["x", "y", 0.001],
    ["x", "y", 0.005],
    ["x", "y", 0.1],
    ["x", "y", 7],
    ["x", "z", 0],
    ["x", "z", 0.5],
  ];
  for (const [a, b, v] of obs) {
    h.get(`${a}${SEP}${b}`)?.observe(v);
    ph.observe({ a, b }, v);
    c.get(a)?.inc();
    pc.inc({ a });
  }
  const norm = (text: string) =>
    parsePromText(text)
      .samples.map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`)
      .sort();
  assert.deepEqual(norm(await mine.metrics()), norm(await theirs.metrics()));
  assert.equal(
    value(parsePromText(await mine.metrics()), "t_seconds_bucket", { a: "x", b: "y", le: "0.001" }),
    1,
  );
});

test("log lines given up are a counter per output, read from the logger at scrape", async () => {
  const bus = new EventBus<TrunklineEvents>();
  let stdout = 0;
  const m = createMetrics({
    ...source(bus, [], 0),
    logDropped: () => [
      { output: "stdout", lines: stdout },
      { output: "syslog", lines: 42 },
    ],
  });
  try {
    let fams = parsePromText(await m.text());
    assert.equal(value(fams, "trunkline_log_dropped_lines_total", { output: "stdout" }), 0);
    assert.equal(value(fams, "trunkline_log_dropped_lines_total", { output: "syslog" }), 42);
    stdout = 7;
    fams = parsePromText(await m.text());
    assert.equal(value(fams, "trunkline_log_dropped_lines_total", { output: "stdout" }), 7);
    assert.equal(select(fams, "trunkline_log_dropped_lines_total").length, 2);
  } finally {
    m.close();
  }
});

test("KeyMemo: the same label values give the very same key string; any change gives a new join", async () => {
  const { KeyMemo, SEP } = await import("../../src/observe/metrics-series.ts");
  const m = new KeyMemo();
  const a = m.key("web", "http", "r", "p", "s", "200");
  assert.equal(a, ["web", "http", "r", "p", "s", "200"].join(SEP));
  assert.equal(m.key("web", "http", "r", "p", "s", `${200}`), a);
  assert.equal(m.key("web", "http", "r", "p", "s2", "200"), ["web", "http", "r", "p", "s2", "200"].join(SEP));
  assert.equal(m.key("a", "b", "", "", "", "", 2), `a${SEP}b`);
  assert.equal(m.key("a", "b", "c", "", "", "", 3), `a${SEP}b${SEP}c`);
});
