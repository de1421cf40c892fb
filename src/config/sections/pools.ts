import { formatHostPort, parseHostPort } from "../../core/address.ts";
import type { SnapshotContext } from "../context.ts";
import type { RawPool } from "../schema.ts";
import type { ProtocolConfigSpec, ProtocolPoolKey } from "../spec.ts";
import type { HealthCheckConfig, PingTransport, PoolConfig, ServerConfig } from "../types.ts";

const DEFAULTS = {
  failoverCodes: [500, 503, 408],
  inviteTimeoutMs: 2_000,
  // Timer C's RFC value (sip/clock.ts TIMER_C): more than 3 minutes.
  ringTimeoutMs: 181_000,
  eslPort: 8021,
  eslPassword: "ClueCon",
  eslHeartbeatTimeoutMs: 60_000,
  connectTimeoutMs: 1_000,
  totalTimeoutMs: 3_000,
  maxFails: 3,
  failTimeoutMs: 10_000,
  healthIntervalMs: 2_000,
  healthTimeoutMs: 1_000,
  rise: 2,
  fall: 3,
} as const;

/** A protocol-specific key in a pool of a protocol that does not take it: reported, ignored. */
function takes(
  spec: ProtocolConfigSpec,
  key: ProtocolPoolKey,
  path: (string | number)[],
  ctx: SnapshotContext,
): boolean {
  if (spec.poolKeys?.includes(key)) return true;
  const only = key === "http" ? "http" : "sip";
  ctx.fail(path, `${key} applies to ${only} pools only (this pool is used by ${spec.name} routes)`);
  return false;
}

/**
 * A bare `sip-options` ping goes over the transport the pool's servers are reached with (UDP
 * when no route says); listeners that reach them differently leave it to the config to name.
 */
function pingTransport(
  reached: ReadonlyMap<PingTransport, readonly string[]> | undefined,
  path: (string | number)[],
  ctx: SnapshotContext,
): PingTransport | undefined {
  const all = [...(reached ?? [])];
  if (all.length <= 1) return all[0]?.[0] ?? "udp";
  const how = all.map(([t, ls]) => `${t} (listener ${ls.join(", ")})`).join(" and ");
  return ctx.fail(
    path,
    `the pool's servers are reached over ${how}: name the ping's, as { sip-options: ${all[0]?.[0]} }`,
  );
}

function buildHealth(
  p: RawPool,
  path: (string | number)[],
  spec: ProtocolConfigSpec,
  reached: ReadonlyMap<PingTransport, readonly string[]> | undefined,
  ctx: SnapshotContext,
): PoolConfig["health"] {
  if (p.health === undefined) return undefined;
  const checks: HealthCheckConfig[] = [];
  p.health.checks.forEach((c, i) => {
    const cp = [...path, "health", "checks", i];
    if (c === "sip-options" || (typeof c === "object" && "sip-options" in c)) {
      if (!takes(spec, "sip-options", cp, ctx)) return;
      const transport = typeof c === "object" ? c["sip-options"] : pingTransport(reached, cp, ctx);
      if (transport !== undefined) checks.push({ kind: "sip-options", transport });
    } else if (c === "tcp" || "tcp" in c) checks.push({ kind: "tcp" });
    else if ("http" in c) {
      if (takes(spec, "http", [...path, "health", "checks", i], ctx))
        checks.push({ kind: "http", path: c.http, expect: c.expect });
    } else checks.push({ kind: "agent", port: c.agent, send: c.send });
  });
  const intervalMs = p.health.interval ?? DEFAULTS.healthIntervalMs;
  if (intervalMs < 100) ctx.fail([...path, "health", "interval"], "must be at least 100ms");
  return {
    intervalMs,
    timeoutMs: p.health.timeout ?? DEFAULTS.healthTimeoutMs,
    rise: p.health.rise ?? DEFAULTS.rise,
    fall: p.health.fall ?? DEFAULTS.fall,
    checks,
  };
}

/**
 * Pools. A pool takes its protocol (default port, default hash key) from the routes that
 * name it; one that no route names takes the first listener's. A server listed in several
 * pools is one server (servers/registry.ts): its max_sessions, where given, must agree.
 */
export function buildPools(
  raw: Readonly<Record<string, RawPool>>,
  protocolOf: (pool: string) => ProtocolConfigSpec | string,
  reachedBy: ReadonlyMap<string, ReadonlyMap<PingTransport, readonly string[]>>,
  ctx: SnapshotContext,
): Map<string, PoolConfig> {
  const pools = new Map<string, PoolConfig>();
  const caps = new Map<string, { pool: string; max: number }>();
  for (const [name, p] of Object.entries(raw)) {
    const path = ["pools", name];
    const spec = protocolOf(name);
    if (typeof spec === "string") {
      ctx.fail(path, spec);
      continue;
    }
    const servers: ServerConfig[] = [];
    const keys = new Set<string>();
    p.servers.forEach((s, i) => {
      const sp = [...path, "servers", i];
      const hp = parseHostPort(s.address, spec.defaultPort);
      if (typeof hp === "string") {
        ctx.fail([...sp, "address"], hp);
        return;
      }
      const key = formatHostPort(hp);
      if (keys.has(key)) ctx.fail([...sp, "address"], `${key} is listed twice in pool "${name}"`);
      keys.add(key);
      if (s.max_sessions !== undefined) {
        const other = caps.get(key);
        if (other && other.max !== s.max_sessions)
          ctx.fail(
            [...sp, "max_sessions"],
            `${key} has max_sessions ${other.max} in pool "${other.pool}": a server's capacity is the server's, give the same value (or one) in every pool`,
          );
        else caps.set(key, { pool: name, max: s.max_sessions });
      }
      servers.push({
        key,
        address: hp,
        weight: s.weight ?? 1,
        maxSessions: s.max_sessions ?? 0,
        backup: s.backup ?? false,
        tls: ctx.clientTls([...sp, "tls"], s.tls),
        agentAddress: s.agent_addr,
        esl:
          s.esl !== undefined && takes(spec, "esl", [...sp, "esl"], ctx)
            ? {
                host: s.esl.host ?? hp.host,
                port: s.esl.port ?? DEFAULTS.eslPort,
                password: s.esl.password ?? DEFAULTS.eslPassword,
                heartbeatTimeoutMs: s.esl.heartbeat_timeout ?? DEFAULTS.eslHeartbeatTimeoutMs,
              }
            : undefined,
      });
    });
    const balance = p.balance ?? "least-sessions";
    if (p.hash_key !== undefined && balance !== "hash") {
      ctx.fail([...path, "hash_key"], `hash_key only applies to balance: hash (this pool uses ${balance})`);
    }
    const hashKey = p.hash_key ?? spec.defaultHashKey;
    p.servers.forEach((s, i) => {
      const t = s.esl?.heartbeat_timeout;
      if (t !== undefined && t < 100)
        ctx.fail([...path, "servers", i, "esl", "heartbeat_timeout"], "must be at least 100ms");
    });
    // Past Timer C's 3 minutes (RFC 3261 §16.6 step 11) the INVITE is over anyway.
    if (p.invite_timeout !== undefined && (p.invite_timeout < 100 || p.invite_timeout > 180_000))
      ctx.fail([...path, "invite_timeout"], "must be between 100ms and 3m");
    // Shorter than Timer C's 3 minutes, as Kamailio's fr_inv_timer (120 s) is: an operator's choice.
    if (p.ring_timeout !== undefined && (p.ring_timeout < 1_000 || p.ring_timeout > DEFAULTS.ringTimeoutMs))
      ctx.fail([...path, "ring_timeout"], "must be between 1s and 181s");
    pools.set(name, {
      name,
      protocol: spec.name,
      balance,
      hashKey,
      hashKeyOf: spec.compileHashKey(hashKey),
      connectTimeoutMs: p.connect_timeout ?? DEFAULTS.connectTimeoutMs,
      totalTimeoutMs: p.total_timeout ?? DEFAULTS.totalTimeoutMs,
      maxFails: p.max_fails ?? DEFAULTS.maxFails,
      failTimeoutMs: p.fail_timeout ?? DEFAULTS.failTimeoutMs,
      servers,
      health: buildHealth(p, path, spec, reachedBy.get(name), ctx),
      failoverCodes: Object.freeze(
        p.failover_codes !== undefined && takes(spec, "failover_codes", [...path, "failover_codes"], ctx)
          ? [...new Set(p.failover_codes)]
          : DEFAULTS.failoverCodes,
      ),
      inviteTimeoutMs:
        p.invite_timeout !== undefined && takes(spec, "invite_timeout", [...path, "invite_timeout"], ctx)
          ? p.invite_timeout
          : DEFAULTS.inviteTimeoutMs,
      ringTimeoutMs:
        p.ring_timeout !== undefined && takes(spec, "ring_timeout", [...path, "ring_timeout"], ctx)
          ? p.ring_timeout
          : DEFAULTS.ringTimeoutMs,
    });
  }
  return pools;
}
