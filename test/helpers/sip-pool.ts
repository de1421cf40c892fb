import { after } from "node:test";
import { buildPools, type Pool, type PoolMember } from "../../src/balance/pool.ts";
import type { EslConfig, HealthConfig, PoolConfig, ServerConfig } from "../../src/config/types.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import type { EslSourceOptions } from "../../src/health/esl-source.ts";
import { HealthMonitor } from "../../src/health/monitor.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";
import type { ServerChange } from "../../src/servers/types.ts";

/**
 * A pool, its server registry and a HealthMonitor built as the app builds them, without
 * listeners: for health and balancing tests on real sockets (probes, event sockets).
 */

export interface ServerSpec {
  readonly port: number;
  readonly host?: string;
  readonly esl?: Partial<EslConfig> & { readonly port: number };
  readonly backup?: boolean;
  readonly maxSessions?: number;
}

export function serverConfig(s: ServerSpec): ServerConfig {
  const host = s.host ?? "127.0.0.1";
  return {
    key: `${host}:${s.port}`,
    address: { host, port: s.port },
    weight: 1,
    maxSessions: s.maxSessions ?? 0,
    backup: s.backup ?? false,
    tls: undefined,
    agentAddress: undefined,
    esl: s.esl
      ? {
          host: s.esl.host ?? host,
          port: s.esl.port,
          password: s.esl.password ?? "ClueCon",
          heartbeatTimeoutMs: 60_000,
        }
      : undefined,
  };
}

export function poolConfig(
  servers: readonly ServerSpec[],
  o: { protocol?: string; health?: HealthConfig; name?: string; balance?: PoolConfig["balance"] } = {},
): PoolConfig {
  return {
    name: o.name ?? "fs",
    protocol: o.protocol ?? "sip",
    balance: o.balance ?? "least-sessions",
    hashKey: "",
    hashKeyOf: () => "",
    connectTimeoutMs: 1000,
    totalTimeoutMs: 5000,
    maxFails: 0,
    failTimeoutMs: 10_000,
    servers: servers.map(serverConfig),
    health: o.health,
    failoverCodes: [500, 503, 408],
    inviteTimeoutMs: 2000,
    ringTimeoutMs: 181_000,
  };
}

export interface HealthRig {
  readonly events: EventBus<TrunklineEvents>;
  readonly registry: ServerRegistry;
  readonly monitor: HealthMonitor;
  readonly changes: ServerChange[];
  pool(name?: string): Pool;
  /** Applies a new set of pool configs, as a reload does. */
  apply(configs: readonly PoolConfig[]): void;
  /** Takes `n` calls (acquire without release) and returns the keys of the servers chosen. */
  take(n: number, pool?: string): (string | undefined)[];
  release(m: PoolMember, pool?: string): void;
}

/** Built and started; closed after the test file. */
export function healthRig(configs: readonly PoolConfig[], esl: EslSourceOptions = {}): HealthRig {
  const events = new EventBus<TrunklineEvents>();
  const changes: ServerChange[] = [];
  const registry = new ServerRegistry((c) => {
    changes.push(c);
    events.emit("server.state", c);
  });
  const monitor = new HealthMonitor(events, { esl });
  let pools: Map<string, Pool> = new Map();
  const apply = (cs: readonly PoolConfig[]) => {
    pools = buildPools(new Map(cs.map((c) => [c.name, c])), registry, pools);
    monitor.update(pools);
  };
  apply(configs);
  after(() => monitor.close());
  const pool = (name = configs[0]?.name ?? "fs") => {
    const p = pools.get(name);
    if (!p) throw new Error(`no pool ${name}`);
    return p;
  };
  return {
    events,
    registry,
    monitor,
    changes,
    pool,
    apply,
    take(n, name) {
      const p = pool(name);
      return Array.from({ length: n }, () => p.acquire("", new Set())?.key);
    },
    release(m, name) {
      pool(name).release(m);
    },
  };
}

/** Resolves when `pred` holds (checked every 5 ms); rejects after `ms` so a test never hangs. */
export function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (pred()) {
        clearInterval(iv);
        resolve();
      } else if (Date.now() - t0 > ms) {
        clearInterval(iv);
        reject(new Error(`${what}: not within ${ms}ms`));
      }
    }, 5);
  });
}
