import { Counter, Gauge, type Registry } from "prom-client";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { Admin } from "../servers/types.ts";
import type { TransportsListener } from "./metrics-transports.ts";

/** What the metrics read of a server (a ServerEntry): one per address, across pools. */
export interface MetricsServer {
  readonly key: string;
  readonly admin: Admin;
  readonly maxSessions: number;
  /** Sessions on it now, across every pool and generation. */
  readonly active: number;
  isUp(now: number): boolean;
  /** The server's own last load report (FreeSWITCH heartbeat), when it has an event socket. */
  readonly load?:
    | { readonly sessionCount: number; readonly maxSessions: number; readonly idleCpu: number }
    | undefined;
  /** Calls sent to it since that report. */
  readonly routedSinceReport?: number;
}

/** What the metrics read of one pool of the current generation. */
export interface MetricsPool {
  readonly servers: readonly {
    readonly key: string;
    /** The effective weight in this pool (agent % and operator applied). */
    readonly weight: number;
    readonly server: MetricsServer;
  }[];
}

export interface MetricsListener extends TransportsListener {
  readonly config: { readonly name: string; readonly protocol: string };
  readonly sessions: number;
}

/**
 * All the metrics need of a proxy (style.md practice 2): its events, and read-only views
 * that collect() reads at scrape time, so nothing is kept in step by the hot path.
 */
export interface MetricsSource {
  readonly events: Pick<EventBus<TrunklineEvents>, "on">;
  /** Every server the registry holds (also one that left the config but still has sessions). */
  servers(): Iterable<MetricsServer>;
  /** The current generation; undefined before the first config is applied. */
  generation(): { readonly number: number; readonly pools: ReadonlyMap<string, MetricsPool> } | undefined;
  /** Listeners taking sessions, and those a reload retired that still run theirs. */
  listeners(): Iterable<MetricsListener>;
  /** Log lines given up by each output (a full queue, a broken descriptor), since start. */
  logDropped?(): readonly { readonly output: "stdout" | "syslog"; readonly lines: number }[];
}

export const SERVER_STATES = ["up", "down", "drain", "maint"] as const;
type ServerState = (typeof SERVER_STATES)[number];

/** The admin state wins over health: a drained or maintained server gets no new sessions either way. */
export function serverState(s: MetricsServer, now: number): ServerState {
  if (s.admin !== "ready") return s.admin;
  return s.isUp(now) ? "up" : "down";
}

/**
 * Gauges computed when scraped, from the runtime as it is then: they cost nothing between
 * scrapes, and a server or listener that left the config leaves the output with it (each
 * collect starts from reset()).
 */
export function registerStateGauges(registry: Registry, source: MetricsSource): void {
  const registers = [registry];
  new Gauge({
    name: "trunkline_sessions_active",
    help: "Sessions open now, by listener (a listener retired by a reload counts until its last session ends).",
    labelNames: ["listener", "protocol"] as const,
    registers,
    collect() {
      this.reset();
      // A replaced listener keeps its name while it drains: add it to its successor.
      const sums = new Map<string, { listener: string; protocol: string; n: number }>();
      for (const l of source.listeners()) {
        const key = `${l.config.name}\u0000${l.config.protocol}`;
        const cur = sums.get(key);
        if (cur) cur.n += l.sessions;
        else sums.set(key, { listener: l.config.name, protocol: l.config.protocol, n: l.sessions });
      }
      for (const s of sums.values()) this.set({ listener: s.listener, protocol: s.protocol }, s.n);
    },
  });
  new Gauge({
    name: "trunkline_server_state",
    help: "1 for the state each pool's server is in now (up, down, drain, maint), 0 for the others.",
    labelNames: ["pool", "server", "state"] as const,
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const [pool, p] of source.generation()?.pools ?? []) {
        for (const m of p.servers) {
          const cur = serverState(m.server, now);
          for (const state of SERVER_STATES) this.set({ pool, server: m.key, state }, state === cur ? 1 : 0);
        }
      }
    },
  });
  new Gauge({
    name: "trunkline_server_weight",
    help: "Effective weight of each server in each pool (agent % and operator weight applied).",
    labelNames: ["pool", "server"] as const,
    registers,
    collect() {
      this.reset();
      for (const [pool, p] of source.generation()?.pools ?? [])
        for (const m of p.servers) this.set({ pool, server: m.key }, m.weight);
    },
  });
  new Gauge({
    name: "trunkline_server_max_sessions",
    help: "Effective session cap of each server (max_sessions or the agent's maxconn, the lower; 0 = none).",
    labelNames: ["pool", "server"] as const,
    registers,
    collect() {
      this.reset();
      for (const [pool, p] of source.generation()?.pools ?? [])
        for (const m of p.servers) this.set({ pool, server: m.key }, m.server.maxSessions);
    },
  });
  new Gauge({
    name: "trunkline_server_sessions_active",
    help: "Sessions on each server now, across every pool that lists it.",
    labelNames: ["server"] as const,
    registers,
    collect() {
      this.reset();
      for (const s of source.servers()) this.set({ server: s.key }, s.active);
    },
  });
  new Gauge({
    name: "trunkline_server_reported_load",
    help: "What a server's event socket (FreeSWITCH HEARTBEAT) last reported: sessions, max_sessions, idle_cpu (%); and routed_since, the calls sent there since.",
    labelNames: ["server", "figure"] as const,
    registers,
    collect() {
      this.reset();
      for (const s of source.servers()) {
        const l = s.load;
        if (!l) continue;
        this.set({ server: s.key, figure: "sessions" }, l.sessionCount);
        this.set({ server: s.key, figure: "max_sessions" }, l.maxSessions);
        this.set({ server: s.key, figure: "idle_cpu" }, l.idleCpu);
        this.set({ server: s.key, figure: "routed_since" }, s.routedSinceReport ?? 0);
      }
    },
  });
  new Gauge({
    name: "trunkline_config_generation",
    help: "Number of the configuration generation in use (1 at start, +1 per applied reload).",
    registers,
    collect() {
      this.set(source.generation()?.number ?? 0);
    },
  });
  new Counter({
    name: "trunkline_log_dropped_lines_total",
    help: "Log lines given up, by output: stdout (its reader stalled a non-blocking pipe past 8 MiB, or it broke) or syslog (its queue was full, or it was down at close).",
    labelNames: ["output"] as const,
    registers,
    collect() {
      this.reset();
      for (const o of source.logDropped?.() ?? []) this.inc({ output: o.output }, o.lines);
    },
  });
}
