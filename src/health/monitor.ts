import type { AgentReport } from "../agent/reply.ts";
import type { PoolConfig, ServerConfig } from "../config/types.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { ServerEntry } from "../servers/server.ts";
import { probeAgent } from "./agent-probe.ts";
import { type EslSourceOptions, EslSources } from "./esl-source.ts";
import { probeHttp } from "./http-probe.ts";
import { isRefusal } from "./refusal.ts";
import { probeSipOptions } from "./sip-options-probe.ts";
import { probeSipOptionsStream } from "./sip-options-stream.ts";
import { probeTcp } from "./tcp-probe.ts";
import type { MonitoredPool, ProbeFailure } from "./types.ts";

export type { MonitoredPool } from "./types.ts";

/** Applies an agent's reply to the agent layer as HAProxy does: admin, then weight, maxconn, health. */
export function applyAgentReport(s: ServerEntry, r: AgentReport): void {
  const why = (w: string) => `agent: ${w}${r.description ? ` #${r.description}` : ""}`;
  if (r.admin !== undefined) s.setAgentAdmin(r.admin, why(r.admin));
  if (r.weightPercent !== undefined) s.setWeightPercent(r.weightPercent, why(`${r.weightPercent}%`));
  if (r.maxconn !== undefined) s.setAgentMaxconn(r.maxconn, why(`maxconn:${r.maxconn}`));
  if (r.health === "up") {
    if (s.agentDown !== undefined) s.setAgentDown(undefined, why("up"));
  } else if (r.health !== undefined) {
    s.setAgentDown(r.description ?? r.health, why(r.health));
  }
}

/** Runs one server's checks every interval (±10% jitter, so checks of many servers spread out). */
class ServerChecker {
  readonly server: ServerEntry;
  config: NonNullable<PoolConfig["health"]>;
  member: ServerConfig;
  readonly #events: EventBus<TrunklineEvents>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    server: ServerEntry,
    config: NonNullable<PoolConfig["health"]>,
    member: ServerConfig,
    events: EventBus<TrunklineEvents>,
  ) {
    this.server = server;
    this.config = config;
    this.member = member;
    this.#events = events;
  }

  start(): void {
    // The first round comes soon, spread over a fraction of the interval.
    this.#schedule(Math.random() * Math.min(200, this.config.intervalMs));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#round(), ms);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    const s = this.server;
    const c = this.config;
    for (const check of c.checks) {
      if (this.#stopped) return;
      const t0 = performance.now();
      if (check.kind === "tcp") {
        const r = await probeTcp(s.address.host, s.address.port, c.timeoutMs);
        if (this.#stopped) return;
        this.#record("tcp", r, r.ok ? "tcp check passed" : r.reason, t0);
      } else if (check.kind === "sip-options") {
        const at = { host: s.address.host, port: s.address.port, timeoutMs: c.timeoutMs };
        const r =
          check.transport === "udp"
            ? await probeSipOptions(at)
            : await probeSipOptionsStream({ ...at, transport: check.transport, tls: this.member.tls });
        if (this.#stopped) return;
        this.#record("sip-options", r, r.ok ? `sip-options: answered ${r.status}` : r.reason, t0);
      } else if (check.kind === "http") {
        const r = await probeHttp({
          host: s.address.host,
          port: s.address.port,
          path: check.path,
          expect: check.expect,
          timeoutMs: c.timeoutMs,
          tls: this.member.tls,
        });
        if (this.#stopped) return;
        this.#record("http", r, r.ok ? `http check: answered ${r.status}` : r.reason, t0);
      } else if (check.kind === "agent") {
        const r = await probeAgent({
          host: this.member.agentAddress ?? s.address.host,
          port: check.port,
          ...(check.send !== undefined ? { send: check.send } : {}),
          timeoutMs: c.timeoutMs,
        });
        if (this.#stopped) return;
        // An agent that cannot be reached is no information, not a failure (HAProxy's rule).
        if (r.ok) applyAgentReport(s, r.report);
        this.#probe(
          "agent",
          r.ok,
          performance.now() - t0,
          r.ok ? "agent replied" : r.reason,
          r.ok ? r.report.errors : undefined,
        );
      }
    }
    this.#schedule(c.intervalMs * (0.9 + Math.random() * 0.2));
  }

  /**
   * A check's result counts toward rise/fall, unless it failed for want of this host's own
   * descriptors, buffers or ports: then it is no verdict on the server (said in the event).
   */
  #record(check: "tcp" | "sip-options" | "http", r: { ok: true } | ProbeFailure, reason: string, t0: number) {
    const c = this.config;
    const s = this.server;
    if (r.ok || !r.local) {
      // Down by timeouts (overloaded, perhaps) and now refused: the box died since. Said anew,
      // so that the calls still ringing there move on (server.gone), not at Timer C.
      const died = !r.ok && s.health === "down" && isRefusal(reason) && !isRefusal(s.healthReason);
      s.recordCheck(r.ok, reason, c.rise, c.fall);
      if (died) s.restateHealth(reason);
    }
    this.#probe(check, r.ok, performance.now() - t0, reason, undefined, !r.ok && r.local === true);
  }

  #probe(
    check: "tcp" | "agent" | "sip-options" | "http",
    ok: boolean,
    durationMs: number,
    reason: string,
    errors?: readonly string[],
    noVerdict = false,
  ) {
    if (!this.#events.has("health.probe")) return;
    this.#events.emit("health.probe", {
      server: this.server.key,
      pools: this.server.pools,
      check,
      ok,
      durationMs,
      reason,
      ...(errors && errors.length > 0 ? { agentErrors: errors } : {}),
      ...(noVerdict ? { noVerdict: true as const } : {}),
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}

/**
 * Active health checks (tcp, agent, sip-options) and the event-socket source. It only moves
 * the health, agent and esl layers of server entries, which the balancers read. A server is checked once however many pools
 * list it, with the `health:` of the first pool (in config order) that has one.
 */
export class HealthMonitor {
  readonly #events: EventBus<TrunklineEvents>;
  readonly #checkers = new Map<ServerEntry, ServerChecker>();
  /** The push-fed source: event sockets of servers that have `esl:`, pool health or not. */
  readonly esl: EslSources;

  constructor(events: EventBus<TrunklineEvents>, options: { readonly esl?: EslSourceOptions } = {}) {
    this.#events = events;
    this.esl = new EslSources(events, options.esl);
  }

  update(pools: ReadonlyMap<string, MonitoredPool>): void {
    this.esl.update(pools);
    const keep = new Set<ServerEntry>();
    const present = new Set<ServerEntry>();
    for (const pool of pools.values()) {
      const h = pool.config.health;
      for (const m of pool.servers) {
        present.add(m.server);
        if (!h || keep.has(m.server)) continue;
        keep.add(m.server);
        const cur = this.#checkers.get(m.server);
        if (cur) {
          cur.config = h;
          cur.member = m.config;
        } else {
          const c = new ServerChecker(m.server, h, m.config, this.#events);
          this.#checkers.set(m.server, c);
          c.start();
        }
      }
    }
    for (const [s, c] of this.#checkers) {
      if (keep.has(s)) continue;
      c.stop();
      this.#checkers.delete(s);
      // No pool checks it any more: what its checks (or its agent) said no longer holds.
      // The operator's override is another layer and stays.
      if (present.has(s)) s.resetChecks("health checks removed from the pool");
    }
  }

  close(): void {
    this.esl.close();
    for (const c of this.#checkers.values()) c.stop();
    this.#checkers.clear();
  }
}
