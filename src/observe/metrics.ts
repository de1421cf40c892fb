import { Counter, Gauge, Registry } from "prom-client";
import type { SessionEnded } from "../events/types.ts";
import { counterFamily, histogramFamily } from "./metrics-cells.ts";
import { type ConfigSourceMetrics, registerConfigSourceGauges } from "./metrics-config.ts";
import { httpMetrics } from "./metrics-http.ts";
import {
  DEFAULT_MAX_SERIES,
  DURATION_BUCKETS,
  KeyMemo,
  PROBE_BUCKETS,
  SEP,
  SETUP_BUCKETS,
  sharedProcessMetrics,
} from "./metrics-series.ts";
import { type MetricsSource, registerStateGauges } from "./metrics-state.ts";
import { registerTransportMetrics, type TransportRow } from "./metrics-transports.ts";
import { registerWorkerMetrics, type WorkerMetrics } from "./metrics-workers.ts";

export type { MetricsListener, MetricsPool, MetricsServer, MetricsSource } from "./metrics-state.ts";

/** One proxy's metrics: served as `GET /metrics` by the admin server. */
export interface ProxyMetrics {
  /** This proxy's own registry (never prom-client's global one: proxies share test processes). */
  readonly registry: Registry;
  /** The Content-Type of text(). */
  readonly contentType: string;
  /** Every metric in the Prometheus text format (0.0.4). */
  text(): Promise<string>;
  /** Stops listening to the proxy's events; the registry can still be read. */
  close(): void;
}

export interface MetricsOptions {
  /** Label sets per metric before new ones are dropped; DEFAULT_MAX_SERIES by default. */
  readonly maxSeries?: number;
}

/**
 * Maps one proxy's events to Prometheus metrics, as observe/events.ts maps them to logs.
 * Counters and histograms move on events (one cached cell per label set, found by one
 * string key: metrics-cells.ts); gauges of state are read from the runtime when scraped.
 * Labels carry only bounded values: names from the config, server addresses from the
 * config, outcomes and error codes; never a client address, a request or an error message.
 */
export function createMetrics(
  source: MetricsSource & {
    configSource?: () => ConfigSourceMetrics;
    workers?: () => readonly WorkerMetrics[];
    /** The worker threads' transports, as each last reported them. */
    workerTransports?: () => Iterable<TransportRow>;
  },
  opts: MetricsOptions = {},
): ProxyMetrics {
  const registry = new Registry();
  const registers = [registry];
  const limit = opts.maxSeries ?? DEFAULT_MAX_SERIES;
  const droppedSeries = new Counter({
    name: "trunkline_metrics_dropped_series_total",
    help: `Metric updates not recorded because their metric already held its maximum of label sets (${limit}).`,
    labelNames: ["metric"] as const,
    registers,
  });
  const dropped = (metric: string) => droppedSeries.inc({ metric });
  const fam = { registry, limit, dropped };
  const counter = (name: string, help: string, labelNames: readonly string[]) =>
    counterFamily(fam, name, help, labelNames);
  const histogram = (name: string, help: string, labelNames: readonly string[], buckets: number[]) =>
    histogramFamily(fam, name, help, labelNames, buckets);

  const sessions = counter(
    "trunkline_sessions_total",
    "Sessions ended, by how they ended (route, pool and server empty when the session had none).",
    ["listener", "protocol", "route", "pool", "server", "outcome"],
  );
  const duration = histogram(
    "trunkline_session_duration_seconds",
    "Session length, from the accepted connection to the end of both sides.",
    ["listener", "protocol", "outcome"],
    DURATION_BUCKETS,
  );
  const setup = histogram(
    "trunkline_session_setup_seconds",
    "From the accepted connection until the server's first command reached the client (header, routing, connect tries).",
    ["listener", "protocol"],
    SETUP_BUCKETS,
  );
  const attempts = counter(
    "trunkline_upstream_attempts_total",
    "Connect tries to upstream servers: result ok, or the error code of the failed try.",
    ["pool", "server", "result"],
  );
  const failovers = counter(
    "trunkline_upstream_failovers_total",
    "Sessions that reached a server after at least one failed try.",
    ["pool"],
  );
  const probes = counter(
    "trunkline_health_probes_total",
    "Active health checks, by result (ok, or fail: for an agent check, no information).",
    ["server", "check", "result"],
  );
  const probeDuration = histogram(
    "trunkline_health_probe_duration_seconds",
    "How long one active health check took.",
    ["check"],
    PROBE_BUCKETS,
  );
  const listenerErrors = counter(
    "trunkline_listener_errors_total",
    "Errors of listeners (accept, TLS handshake, pending and connection limits, TLS reload), by error code.",
    ["listener", "code"],
  );
  const sipDropped = counter(
    "trunkline_sip_dropped_total",
    "SIP messages not taken (malformed, oversized, not ours, bad route token...), by reason.",
    ["listener", "reason"],
  );
  // Threads of a SIP listener shedding new calls now (net/load-shed.ts), moved by sip.overload.
  const sipOverloaded = new Gauge({
    name: "trunkline_sip_overloaded_threads",
    help: "Threads of a SIP listener refusing a share of new calls (503) because their event loop is saturated and their backlog shows.",
    labelNames: ["listener"] as const,
    registers,
  });
  const reloads = new Counter({
    name: "trunkline_reloads_total",
    help: "Configuration reloads, by outcome.",
    labelNames: ["outcome"] as const,
    registers,
  });
  // Present from the start at 0, so that rate() and alerts see the first reload.
  for (const outcome of ["applied", "unchanged", "rejected"]) reloads.inc({ outcome }, 0);
  registerStateGauges(registry, source);
  registerTransportMetrics(registry, () => source.listeners(), source.workerTransports);
  if (source.configSource) registerConfigSourceGauges(registry, source.configSource);
  if (source.workers) registerWorkerMetrics(registry, source.workers);
  for (const m of sharedProcessMetrics()) registry.registerMetric(m);

  const sessionsKey = new KeyMemo();
  const durationKey = new KeyMemo();
  const setupKey = new KeyMemo();
  const okKey = new KeyMemo();
  const onSession = (r: SessionEnded): void => {
    const pool = r.pool ?? "";
    // Without a pool, `server` is a route's target, which a route script may compute: unbounded.
    const server = r.pool === undefined ? "" : (r.server ?? "");
    sessions.get(sessionsKey.key(r.listener, r.protocol, r.route ?? "", pool, server, r.outcome))?.inc();
    duration
      .get(durationKey.key(r.listener, r.protocol, r.outcome, "", "", "", 3))
      ?.observe(r.durationMs / 1000);
    if (r.setupMs !== undefined)
      setup.get(setupKey.key(r.listener, r.protocol, "", "", "", "", 2))?.observe(r.setupMs / 1000);
    for (const a of r.attempts)
      attempts.get(pool + SEP + (r.pool === undefined ? "" : a.server) + SEP + a.code)?.inc();
    // A session names its server only once it connected to one.
    if (r.server === undefined) return;
    attempts.get(okKey.key(pool, server, "ok", "", "", "", 3))?.inc();
    if (r.attempts.length > 0 && r.pool !== undefined) failovers.get(pool)?.inc();
  };

  const offs = [
    source.events.on("session.end", onSession),
    source.events.on("session.end", httpMetrics(counter, histogram)),
    source.events.on("health.probe", (p) => {
      probes.get(p.server + SEP + p.check + SEP + (p.ok ? "ok" : "fail"))?.inc();
      probeDuration.get(p.check)?.observe(p.durationMs / 1000);
    }),
    source.events.on("reload", (r) => reloads.inc({ outcome: r.outcome })),
    source.events.on("listener.error", (e) => listenerErrors.get(e.listener + SEP + e.code)?.inc()),
    source.events.on("sip.dropped", (e) => sipDropped.get(e.listener + SEP + e.reason)?.inc()),
    source.events.on("sip.overload", (e) => sipOverloaded.inc({ listener: e.listener }, e.shedding ? 1 : -1)),
  ];
  let closed = false;
  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    close() {
      if (closed) return;
      closed = true;
      for (const off of offs) off();
    },
  };
}
