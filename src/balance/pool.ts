import type { PoolConfig, ServerConfig } from "../config/types.ts";
import { isRefusal } from "../health/refusal.ts";
import type { ServerRegistry } from "../servers/registry.ts";
import type { ServerEntry } from "../servers/server.ts";
import type { TryOutcome } from "../servers/types.ts";
import type { AttemptPool } from "./attempt.ts";
import { createBalancer } from "./index.ts";
import { type LoadScore, loadScore } from "./load-score.ts";
import type { Balanceable, Balancer } from "./types.ts";

/**
 * A server as one pool sees it: the shared ServerEntry (state, counts) plus this pool's
 * settings for it (weight, backup, TLS). Kept across reloads while the pool keeps the server,
 * so balancers' per-server state (rotation scores) carries over.
 */
export class PoolMember implements Balanceable {
  readonly pool: string;
  readonly server: ServerEntry;
  config: ServerConfig;

  constructor(pool: string, server: ServerEntry, config: ServerConfig) {
    this.pool = pool;
    this.server = server;
    this.config = config;
  }

  get key(): string {
    return this.server.key;
  }
  get active(): number {
    return this.server.active;
  }
  get total(): number {
    return this.server.total;
  }
  /** The configured weight, scaled by the agent's % or replaced by the operator's weight. */
  get weight(): number {
    return this.server.weightFor(this.config.weight);
  }
  get admin() {
    return this.server.admin;
  }
  get health() {
    return this.server.health;
  }
  get agentDown(): string | undefined {
    return this.server.agentDown;
  }
  get agentMaxconn(): number {
    return this.server.agentMaxconn;
  }
  get maxSessions(): number {
    return this.server.maxSessions;
  }

  canTake(now: number): boolean {
    return this.server.canTake(now) && this.weight > 0;
  }
}

/**
 * How old a load report may be and still rank servers: 3 heartbeats at FreeSWITCH's default
 * 20 s (reference sip.md: "treat 2–3 missed heartbeats as unhealthy"), the ESL watchdog's bound.
 */
export const LOAD_REPORT_MAX_AGE_MS = 60_000;

/** A member's score from its server's last heartbeat and the calls sent there since (load-score.ts). */
export function memberLoadScore(m: PoolMember, now = Date.now()): LoadScore {
  const s = m.server;
  return loadScore({
    report: s.load,
    routedSince: s.routedSinceReport,
    active: s.active,
    now,
    maxAgeMs: m.config.esl?.heartbeatTimeoutMs ?? LOAD_REPORT_MAX_AGE_MS,
  });
}

/**
 * A pool of servers for one generation: candidate filtering (primaries, then backups),
 * exact session accounting through the server registry, and passive health.
 *
 * SIP pools differ in two ways. `least-sessions` ranks by the servers' own load reports when
 * they have them (LeastLoad). And overload is not death (reference sip.md, "Lessons from
 * overload runs"): when packet loss makes every ping time out, health checks take every server
 * out at once and every call fails until pings recover; so when no server can take a call
 * because of health alone, the down ones are used rather than none. Operator drain/maint,
 * agent admin states and caps still hold. FastAGI pools keep strict health.
 */
export class Pool implements AttemptPool<PoolMember> {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly PoolMember[];
  readonly balancer: Balancer<PoolMember>;
  readonly #registry: ServerRegistry;
  readonly #sip: boolean;

  /** The registry must already hold every server of `config` (ServerRegistry.sync). */
  constructor(config: PoolConfig, registry: ServerRegistry, previous?: Pool) {
    this.name = config.name;
    this.config = config;
    this.#registry = registry;
    const old = new Map((previous?.servers ?? []).map((m) => [m.key, m]));
    this.servers = config.servers.map((sc) => {
      const entry = registry.get(sc.key);
      if (!entry) throw new Error(`server ${sc.key} of pool ${config.name} is not registered`);
      const kept = old.get(sc.key);
      if (kept && kept.server === entry) {
        kept.config = sc;
        return kept;
      }
      return new PoolMember(config.name, entry, sc);
    });
    this.#sip = config.protocol === "sip";
    // Load reports exist only where a server has an event socket: no scoring work otherwise.
    const reports = (c: PoolConfig) => c.protocol === "sip" && c.servers.some((sc) => sc.esl !== undefined);
    this.balancer =
      previous &&
      previous.config.balance === config.balance &&
      previous.config.protocol === config.protocol &&
      reports(previous.config) === reports(config)
        ? previous.balancer
        : createBalancer<PoolMember>(
            config.balance,
            reports(config) ? { scoreOf: (m) => memberLoadScore(m) } : {},
          );
    this.balancer.setServers(this.servers);
  }

  get connectTimeoutMs(): number {
    return this.config.connectTimeoutMs;
  }

  get totalTimeoutMs(): number {
    return this.config.totalTimeoutMs;
  }

  #candidates(now: number, skip: ReadonlySet<PoolMember>, backup: boolean): PoolMember[] {
    return this.servers.filter((s) => s.config.backup === backup && !skip.has(s) && s.canTake(now));
  }

  /** SIP pools with no candidate: the servers kept out by health alone (overload is not death). */
  /** Down ones that may be only slow: not one whose checks were refused (nothing listens there). */
  #downCandidates(skip: ReadonlySet<PoolMember>, backup: boolean): PoolMember[] {
    return this.servers.filter(
      (s) =>
        s.config.backup === backup &&
        !skip.has(s) &&
        s.weight > 0 &&
        s.server.canTakeIgnoringHealth() &&
        !(s.server.health === "down" && isRefusal(s.server.healthReason)),
    );
  }

  #pick(now: number, skip: ReadonlySet<PoolMember>, hashKey: string): PoolMember | undefined {
    const b = this.balancer;
    const s =
      b.pick(this.#candidates(now, skip, false), hashKey) ??
      b.pick(this.#candidates(now, skip, true), hashKey);
    // Only when none could take it at all: a healthy server that was tried and failed does
    // not send the call to the down ones.
    if (s || !this.#sip || this.servers.some((m) => m.canTake(now))) return s;
    return (
      b.pick(this.#downCandidates(skip, false), hashKey) ?? b.pick(this.#downCandidates(skip, true), hashKey)
    );
  }

  /**
   * Picks a server not yet tried and counts the session on it at once, in the same tick,
   * so concurrent sessions can never overshoot max_sessions. Backups only when no primary can.
   */
  acquire(hashKey: string, tried: ReadonlySet<PoolMember>, now = Date.now()): PoolMember | undefined {
    let skip: Set<PoolMember> | undefined;
    for (let i = 0; i <= this.servers.length; i++) {
      const excluded = skip ?? tried;
      const s = this.#pick(now, excluded, hashKey);
      if (!s) return undefined;
      if (this.#registry.acquire(s.server)) {
        s.server.noteRouted();
        return s;
      }
      skip ??= new Set(tried);
      skip.add(s);
    }
    return undefined;
  }

  /** Servers in the order a new session would try them (no state changes). */
  preview(hashKey: string, now = Date.now()): PoolMember[] {
    const none = new Set<PoolMember>();
    const up = [
      ...this.balancer.order(this.#candidates(now, none, false), hashKey),
      ...this.balancer.order(this.#candidates(now, none, true), hashKey),
    ];
    if (up.length > 0 || !this.#sip) return up;
    return [
      ...this.balancer.order(this.#downCandidates(none, false), hashKey),
      ...this.balancer.order(this.#downCandidates(none, true), hashKey),
    ];
  }

  failedOver(s: PoolMember): void {
    s.server.failovers++;
  }

  /** Counts a session that exists already on `s` (registry.adopt); false when it is unregistered. */
  adopt(s: PoolMember): boolean {
    return this.#registry.adopt(s.server);
  }

  release(s: PoolMember): void {
    this.#registry.release(s.server);
  }

  /** What one try of a server came to: passive health (rise/fall with checks, max_fails without). */
  report(s: PoolMember, outcome: TryOutcome, now = Date.now()): void {
    const h = this.config.health;
    const connected = "session connected";
    this.#registry.report(s.server, {
      ok: outcome.ok,
      reason: outcome.ok ? connected : h ? `session ${outcome.reason}` : outcome.reason,
      rise: h?.rise,
      fall: h?.fall,
      maxFails: this.config.maxFails,
      failTimeoutMs: this.config.failTimeoutMs,
      now,
    });
  }
}

/** All pools of one generation, reusing members and balancers from the previous set. */
export function buildPools(
  configs: ReadonlyMap<string, PoolConfig>,
  registry: ServerRegistry,
  previous?: ReadonlyMap<string, Pool>,
): Map<string, Pool> {
  registry.sync(configs.values());
  const out = new Map<string, Pool>();
  for (const [name, cfg] of configs) out.set(name, new Pool(cfg, registry, previous?.get(name)));
  return out;
}
