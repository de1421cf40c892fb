import type { PoolConfig } from "../config/types.ts";
import { createBalancer } from "./index.ts";
import { type ChangeSink, ServerState } from "./server-state.ts";
import type { Balancer } from "./types.ts";

/**
 * A pool of servers for one snapshot: candidate filtering (primaries, then backups),
 * exact session accounting and passive health. Protocol code uses only acquire/release/
 * connectFailed/connectSucceeded.
 */
export class Pool {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly ServerState[];
  /** Servers removed from the config that still carry sessions; revived if they come back. */
  readonly retired: readonly ServerState[];
  readonly balancer: Balancer<ServerState>;

  constructor(config: PoolConfig, emit: ChangeSink, previous?: Pool) {
    this.name = config.name;
    this.config = config;
    const old = new Map([...(previous?.retired ?? []), ...(previous?.servers ?? [])].map((s) => [s.key, s]));
    this.servers = config.servers.map((sc) => {
      const kept = old.get(sc.key);
      if (kept) {
        old.delete(sc.key);
        kept.config = sc;
        kept.setSink(emit);
        return kept;
      }
      return new ServerState(config.name, sc, emit);
    });
    this.retired = [...old.values()].filter((s) => s.active > 0);
    this.balancer =
      previous && previous.config.balance === config.balance
        ? previous.balancer
        : createBalancer<ServerState>(config.balance);
    this.balancer.setServers(this.servers);
  }

  #candidates(now: number, tried: ReadonlySet<ServerState>, backup: boolean): ServerState[] {
    return this.servers.filter((s) => s.config.backup === backup && !tried.has(s) && s.canTake(now));
  }

  /**
   * Picks a server not yet tried and counts the session on it at once, in the same tick,
   * so concurrent sessions can never overshoot max_sessions. Backups only when no primary can.
   */
  acquire(hashKey: string, tried: ReadonlySet<ServerState>, now = Date.now()): ServerState | undefined {
    let s = this.balancer.pick(this.#candidates(now, tried, false), hashKey);
    if (!s) s = this.balancer.pick(this.#candidates(now, tried, true), hashKey);
    if (!s) return undefined;
    s.active++;
    s.total++;
    return s;
  }

  /** Servers in the order a new session would try them (no state changes). */
  preview(hashKey: string, now = Date.now()): ServerState[] {
    const none = new Set<ServerState>();
    return [
      ...this.balancer.order(this.#candidates(now, none, false), hashKey),
      ...this.balancer.order(this.#candidates(now, none, true), hashKey),
    ];
  }

  connectSucceeded(s: ServerState): void {
    s.consecutiveConnectFails = 0;
    const h = this.config.health;
    if (h) s.recordCheck(true, "session connected", h.rise, h.fall);
    else if (s.downUntil > 0) {
      s.downUntil = 0;
      s.change("passive", "down", "up", "session connected");
    }
  }

  /** A real session could not connect: passive health. */
  connectFailed(s: ServerState, reason: string, now = Date.now()): void {
    s.consecutiveConnectFails++;
    const h = this.config.health;
    if (h) {
      s.recordCheck(false, `session connect failed: ${reason}`, h.rise, h.fall);
      return;
    }
    const max = this.config.maxFails;
    if (max > 0 && s.consecutiveConnectFails >= max) {
      const wasDown = s.downUntil > now;
      s.downUntil = now + this.config.failTimeoutMs;
      if (!wasDown) {
        s.change(
          "passive",
          "up",
          "down",
          `${s.consecutiveConnectFails} connect failures in a row (${reason}); retry in ${this.config.failTimeoutMs}ms`,
        );
      }
    }
  }

  release(s: ServerState): void {
    if (s.active > 0) s.active--;
  }
}

/** All pools of one snapshot, reusing server state from the previous set. */
export function buildPools(
  configs: ReadonlyMap<string, PoolConfig>,
  emit: ChangeSink,
  previous?: ReadonlyMap<string, Pool>,
): Map<string, Pool> {
  const out = new Map<string, Pool>();
  for (const [name, cfg] of configs) out.set(name, new Pool(cfg, emit, previous?.get(name)));
  return out;
}
