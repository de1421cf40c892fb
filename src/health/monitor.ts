import type { AgentReport } from "../agent/reply.ts";
import type { Pool } from "../balance/pool.ts";
import type { ServerState } from "../balance/server-state.ts";
import type { HealthConfig } from "../config/types.ts";
import type { Log } from "../core/types.ts";
import { probeAgent } from "./agent-probe.ts";
import { probeTcp } from "./tcp-probe.ts";

/** Applies an agent's reply as HAProxy does: admin state, then weight, then maxconn, then health. */
export function applyAgentReport(s: ServerState, r: AgentReport): void {
  const why = (w: string) => `agent: ${w}${r.description ? ` #${r.description}` : ""}`;
  if (r.admin === "ready") s.setAdmin("ready", why("ready"));
  else if (r.admin === "drain") s.setAdmin("drain", why("drain"));
  else if (r.admin === "maint") s.setAdmin("maint", why("maint"));
  if (r.weightPercent !== undefined) s.setWeightPercent(r.weightPercent, why(`${r.weightPercent}%`));
  if (r.maxconn !== undefined) s.setAgentMaxconn(r.maxconn, why(`maxconn:${r.maxconn}`));
  if (r.health === "up") {
    if (s.agentDown !== undefined) s.setAgentDown(undefined, why("up"));
  } else if (r.health !== undefined) {
    s.setAgentDown(r.description ?? r.health, why(r.health));
  }
}

export function resetHealth(s: ServerState, reason: string): void {
  if (s.health !== "up") s.setHealth("up", reason);
  if (s.agentDown !== undefined) s.setAgentDown(undefined, reason);
  if (s.admin !== "ready") s.setAdmin("ready", reason);
  if (s.weightPercent !== 100) s.setWeightPercent(100, reason);
  if (s.agentMaxconn !== 0) s.setAgentMaxconn(0, reason);
  s.streak = 0;
}

/** Runs one server's checks every interval (with ±10% jitter so checks of many servers spread out). */
class ServerChecker {
  readonly server: ServerState;
  config: HealthConfig;
  readonly #log: Log;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(server: ServerState, config: HealthConfig, log: Log) {
    this.server = server;
    this.config = config;
    this.#log = log;
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
    const host = s.config.agentAddress ?? s.config.address.host;
    for (const check of c.checks) {
      if (this.#stopped) return;
      if (check.kind === "tcp") {
        const r = await probeTcp(s.config.address.host, s.config.address.port, c.timeoutMs);
        s.recordCheck(r.ok, r.ok ? "tcp check passed" : r.reason, c.rise, c.fall);
      } else {
        const r = await probeAgent({
          host,
          port: check.port,
          ...(check.send !== undefined ? { send: check.send } : {}),
          timeoutMs: c.timeoutMs,
        });
        if (this.#stopped) return;
        // An agent that cannot be reached is no information, not a failure (HAProxy's rule).
        if (r.ok) applyAgentReport(s, r.report);
        else
          this.#log.debug({ pool: s.pool, server: s.key, reason: r.reason }, "agent check: no information");
        if (r.ok && r.report.errors.length > 0) {
          this.#log.warn({ pool: s.pool, server: s.key, words: r.report.errors }, "agent reports an error");
        }
      }
    }
    const jitter = c.intervalMs * (0.9 + Math.random() * 0.2);
    this.#schedule(jitter);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}

/**
 * Active health checks of every pool that has a `health:` section. Protocol-independent:
 * it only moves ServerState (health, admin, weight, cap), which the balancers read.
 */
export class HealthMonitor {
  readonly #log: Log;
  readonly #checkers = new Map<ServerState, ServerChecker>();

  constructor(log: Log) {
    this.#log = log;
  }

  update(pools: ReadonlyMap<string, Pool>): void {
    const keep = new Set<ServerState>();
    for (const pool of pools.values()) {
      const h = pool.config.health;
      if (!h) continue;
      for (const s of pool.servers) {
        keep.add(s);
        const cur = this.#checkers.get(s);
        if (cur) cur.config = h;
        else {
          const c = new ServerChecker(s, h, this.#log);
          this.#checkers.set(s, c);
          c.start();
        }
      }
    }
    const present = new Set<ServerState>();
    for (const pool of pools.values()) for (const s of pool.servers) present.add(s);
    for (const [s, c] of this.#checkers) {
      if (!keep.has(s)) {
        c.stop();
        this.#checkers.delete(s);
        // Its pool no longer has checks: what they (or an agent) said no longer holds.
        if (present.has(s)) resetHealth(s, "health checks removed from the pool");
      }
    }
  }

  close(): void {
    for (const c of this.#checkers.values()) c.stop();
    this.#checkers.clear();
  }
}
