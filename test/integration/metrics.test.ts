import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { register } from "prom-client";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { refusedPort } from "../helpers/blackhole.ts";
import { type Exposition, parsePromText, select, total, value } from "../helpers/prom-text.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** An upstream that reads the header and holds the session until release(), then closes. */
async function startGatedServer(): Promise<{
  port: number;
  held(): number;
  release(): void;
  close(): Promise<void>;
}> {
  const held = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    sock.on("error", () => {});
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\n\n")) held.add(sock);
    });
    sock.on("close", () => held.delete(sock));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    held: () => held.size,
    release: () => {
      for (const s of held) s.end();
    },
    close: () =>
      new Promise((r) => {
        for (const s of held) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Resolves on the next event `name` of the proxy: metrics subscribed first, so they are updated. */
function next<K extends keyof TrunklineEvents>(p: TestProxy, name: K): Promise<TrunklineEvents[K]> {
  return new Promise((resolve) => {
    const off = p.proxy.events.on(name, (e) => {
      off();
      resolve(e);
    });
  });
}

async function scrape(p: TestProxy): Promise<Exposition> {
  const m = p.proxy.metrics;
  assert.ok(m, "metrics are on");
  return parsePromText(await m.text());
}

const FAMILY = (e: Exposition, name: string) => e.families.get(name);

test("metrics count what ran: sessions, attempts, a failover, a FAILURE, server states, reloads, errors", async () => {
  const a = await startAgiServer({ commands: ["NOOP"] });
  const checked = await startAgiServer({ commands: ["NOOP"] });
  const gate = await startGatedServer();
  cleanup.push(a.close, checked.close, gate.close);
  const r1 = await refusedPort();
  let r2 = await refusedPort();
  for (let i = 0; i < 10 && r2 === r1; i++) r2 = await refusedPort();
  const A = `127.0.0.1:${a.port}`;
  const R1 = `127.0.0.1:${r1}`;
  const R2 = `127.0.0.1:${r2}`;
  const G = `127.0.0.1:${gate.port}`;
  const C = `127.0.0.1:${checked.port}`;
  const yaml = (weight: number) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_pending: 1 } ]
routes:
  - { name: fo, listener: agi, match: { path: ^/fo }, pool: fo }
  - { name: dead, listener: agi, match: { path: ^/dead }, pool: dead }
  - { name: hold, listener: agi, match: { path: ^/hold }, pool: hold }
  - { name: never, listener: agi, match: { path: ^/never$ }, pool: checked }
  - { name: ok, listener: agi, pool: main }
pools:
  main: { servers: [ { address: ${A}, weight: ${weight}, max_sessions: 50 } ] }
  fo: { balance: failover, max_fails: 1, fail_timeout: 60s, servers: [ { address: ${R1} }, { address: ${A} } ] }
  dead: { max_fails: 1, fail_timeout: 60s, servers: [ { address: ${R2} } ] }
  hold: { servers: [ { address: ${G} } ] }
  checked: { health: { interval: 100ms, checks: [ tcp ] }, servers: [ { address: ${C} } ] }
`;
  const p = await startProxy(yaml(3));
  cleanup.push(p.close);
  // A second proxy in the same process: its metrics must see none of the first one's sessions.
  const q = await startProxy(yaml(3).replace(/interval: 100ms/, "interval: 1m"));
  cleanup.push(q.close);
  const firstProbe = next(p, "health.probe");

  const N = 5;
  for (let i = 0; i < N; i++)
    assert.equal((await agiCall({ port: p.port(), url: "agi://x/ok" })).status, "SUCCESS");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/fo" })).status, "SUCCESS");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/dead" })).status, "FAILURE");

  // One session held open: the active gauges see it while it runs.
  const held = agiCall({ port: p.port(), url: "agi://x/hold", timeoutMs: 5000 });
  await until(() => gate.held() === 1, 3000, "session held by the gated server");
  let e = await scrape(p);
  assert.equal(value(e, "trunkline_sessions_active", { listener: "agi", protocol: "fastagi" }), 1);
  assert.equal(value(e, "trunkline_server_sessions_active", { server: G }), 1);
  assert.equal(value(e, "trunkline_server_sessions_active", { server: A }), 0);
  gate.release();
  assert.equal((await held).status, "SUCCESS");
  await p.session(N + 2);
  assert.equal(p.sessions().length, N + 3);

  e = await scrape(p);
  const s = (route: string, pool: string, server: string, outcome: string) =>
    value(e, "trunkline_sessions_total", {
      listener: "agi",
      protocol: "fastagi",
      route,
      pool,
      server,
      outcome,
    });
  assert.equal(s("ok", "main", A, "completed"), N);
  assert.equal(s("fo", "fo", A, "completed"), 1);
  assert.equal(s("dead", "dead", "", "failure_no_server"), 1);
  assert.equal(s("hold", "hold", G, "completed"), 1);
  assert.equal(total(e, "trunkline_sessions_total"), N + 3);
  assert.equal(total(e, "trunkline_sessions_total", { outcome: "completed" }), N + 2);

  // Histograms: one observation per session; setup (connect to the first command) only for
  // sessions whose server sent a command: not the held one, whose server never speaks.
  assert.equal(total(e, "trunkline_session_duration_seconds_count"), N + 3);
  assert.equal(total(e, "trunkline_session_duration_seconds_count", { outcome: "completed" }), N + 2);
  assert.equal(total(e, "trunkline_session_duration_seconds_count", { outcome: "failure_no_server" }), 1);
  assert.equal(
    value(e, "trunkline_session_setup_seconds_count", { listener: "agi", protocol: "fastagi" }),
    N + 1,
  );
  assert.ok(
    (value(e, "trunkline_session_duration_seconds_sum", {
      listener: "agi",
      protocol: "fastagi",
      outcome: "completed",
    }) ?? 0) > 0,
  );

  const att = (pool: string, server: string, result: string) =>
    value(e, "trunkline_upstream_attempts_total", { pool, server, result });
  assert.equal(att("main", A, "ok"), N);
  assert.equal(att("fo", R1, "E_CONNECT_FAILED"), 1);
  assert.equal(att("fo", A, "ok"), 1);
  assert.equal(att("dead", R2, "E_CONNECT_FAILED"), 1);
  assert.equal(att("hold", G, "ok"), 1);
  assert.equal(total(e, "trunkline_upstream_attempts_total"), N + 4);
  assert.deepEqual(
    select(e, "trunkline_upstream_failovers_total").map((x) => [x.labels.pool, x.value]),
    [["fo", 1]],
  );

  // Server states: one series per state, exactly one of them 1.
  const state = (pool: string, server: string) =>
    select(e, "trunkline_server_state", { pool, server })
      .filter((x) => x.value === 1)
      .map((x) => x.labels.state);
  for (const [pool, server] of [
    ["main", A],
    ["fo", R1],
    ["fo", A],
    ["dead", R2],
    ["hold", G],
    ["checked", C],
  ])
    assert.equal(
      select(e, "trunkline_server_state", { pool: pool!, server: server! }).length,
      4,
      `${pool} ${server}`,
    );
  assert.deepEqual(state("main", A), ["up"]);
  assert.deepEqual(state("fo", A), ["up"]);
  assert.deepEqual(state("fo", R1), ["down"], "max_fails 1: the refused server is out");
  assert.deepEqual(state("dead", R2), ["down"]);
  assert.equal(value(e, "trunkline_server_weight", { pool: "main", server: A }), 3);
  assert.equal(value(e, "trunkline_server_weight", { pool: "fo", server: A }), 1);
  assert.equal(value(e, "trunkline_server_max_sessions", { pool: "main", server: A }), 50);
  assert.equal(
    value(e, "trunkline_server_max_sessions", { pool: "fo", server: A }),
    50,
    "the cap is the server's",
  );
  assert.equal(value(e, "trunkline_sessions_active", { listener: "agi", protocol: "fastagi" }), 0);
  assert.equal(value(e, "trunkline_server_sessions_active", { server: G }), 0);
  assert.equal(value(e, "trunkline_config_generation", {}), 1);

  // The operator's drain and weight show at the next scrape, in every pool of the server.
  p.proxy.runtime.registry.override(`127.0.0.1:${a.port}`, { admin: "drain", weight: 7 }, "test");
  e = await scrape(p);
  assert.deepEqual(state("main", A), ["drain"]);
  assert.deepEqual(state("fo", A), ["drain"]);
  assert.equal(value(e, "trunkline_server_weight", { pool: "fo", server: A }), 7);
  p.proxy.runtime.registry.override(A, { admin: undefined, weight: undefined }, "test");

  // Active health checks of the pool that has them.
  await firstProbe;
  e = await scrape(p);
  const probes = total(e, "trunkline_health_probes_total", { server: C, check: "tcp", result: "ok" });
  assert.ok(probes >= 1, "at least one tcp probe counted");
  assert.equal(total(e, "trunkline_health_probes_total", { result: "fail" }), 0);
  assert.equal(value(e, "trunkline_health_probe_duration_seconds_count", { check: "tcp" }), probes);

  // Reloads: applied (a new generation), unchanged, rejected.
  assert.deepEqual(
    select(e, "trunkline_reloads_total").map((x) => [x.labels.outcome, x.value]),
    [
      ["applied", 0],
      ["unchanged", 0],
      ["rejected", 0],
    ],
  );
  p.writeConfig(yaml(2));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  assert.equal((await p.proxy.reload("test")).kind, "unchanged");
  p.writeConfig(yaml(2).replace("pool: main", "pool: missing"));
  assert.equal((await p.proxy.reload("test")).kind, "rejected");
  e = await scrape(p);
  assert.equal(value(e, "trunkline_config_generation", {}), 2);
  assert.equal(value(e, "trunkline_server_weight", { pool: "main", server: A }), 2);
  for (const outcome of ["applied", "unchanged", "rejected"])
    assert.equal(value(e, "trunkline_reloads_total", { outcome }), 1, outcome);

  // A listener error, by code: the second connection still in its header is one too many.
  const first = net.connect({ host: "127.0.0.1", port: p.port() });
  first.on("error", () => {});
  await until(() => p.proxy.runtime.listener("agi")?.pending === 1, 3000, "one pending connection");
  const refused = next(p, "listener.error");
  const second = net.connect({ host: "127.0.0.1", port: p.port() });
  second.on("error", () => {});
  assert.equal((await refused).code, "E_PENDING_LIMIT");
  first.destroy();
  second.destroy();
  e = await scrape(p);
  assert.equal(value(e, "trunkline_listener_errors_total", { listener: "agi", code: "E_PENDING_LIMIT" }), 1);

  checkHygiene(e, [A, R1, R2, G, C]);

  // The other proxy saw nothing of this: its own registry, its own counts.
  const other = await scrape(q);
  assert.notEqual(q.proxy.metrics?.registry, p.proxy.metrics?.registry);
  assert.equal(total(other, "trunkline_sessions_total"), 0);
  assert.equal(total(other, "trunkline_upstream_attempts_total"), 0);
  assert.equal(total(other, "trunkline_reloads_total"), 0);
  assert.equal(register.getMetricsAsArray().length, 0, "nothing in prom-client's global registry");
});

/** Names and labels as Prometheus wants them, and no unbounded value in any label. */
function checkHygiene(e: Exposition, servers: string[]): void {
  for (const f of e.families.values()) {
    assert.match(f.name, /^trunkline_/);
    if (f.type === "counter") assert.match(f.name, /_total$/, f.name);
    if (/duration|setup|lag/.test(f.name)) assert.match(f.name, /_seconds$/, f.name);
    assert.ok(f.help.length > 0, `${f.name} has HELP`);
  }
  assert.equal(select(e, "trunkline_metrics_dropped_series_total").length, 0, "no label set dropped");
  for (const x of e.samples) {
    for (const [k, v] of Object.entries(x.labels)) {
      const where = `${x.name}{${k}="${v}"}`;
      // Addresses may only be configured servers, never a client's address and port.
      for (const m of v.matchAll(/\d+\.\d+\.\d+\.\d+:\d+/g)) assert.ok(servers.includes(m[0]), where);
      assert.doesNotMatch(v, /\/|\s|ECONN|agi:/, where);
    }
  }
  assert.ok(FAMILY(e, "trunkline_process_cpu_seconds_total"), "process metrics");
  assert.ok(FAMILY(e, "trunkline_nodejs_eventloop_lag_seconds"), "event loop lag");
  assert.ok(FAMILY(e, "trunkline_nodejs_heap_size_used_bytes"), "heap");
}
