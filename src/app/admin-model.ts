import { readFileSync } from "node:fs";
import type { Pool, PoolMember } from "../balance/pool.ts";
import type { ReloadResult } from "../config/watcher.ts";
import { formatHostPort } from "../core/address.ts";
import type {
  AdminModel,
  ChangeResult,
  ClusterMemberView,
  ConfigSourceView,
  ListenerView,
  OperatorAction,
  PoolView,
  ServerView,
  SessionView,
  StatusView,
} from "../observe/admin/types.ts";
import { protocolNamed } from "../protocols/registry.ts";
import type { OperatorOverride } from "../servers/types.ts";
import type { Runtime } from "./runtime.ts";
import type { WorkerView } from "./workers/types.ts";

const VERSION = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
})();

const iso = (ms: number) => new Date(ms).toISOString();

/** The last reload as the admin API reports it. */
export interface ReloadRecord {
  readonly at: number;
  readonly reason: string;
  readonly result: ReloadResult;
}

/** What the model needs of the proxy: its runtime, config and last reload. */
export interface AdminSource {
  readonly runtime: Runtime;
  readonly startedAt: number;
  readonly configSource: string;
  digest(): string;
  lastReload(): ReloadRecord | undefined;
  reload(reason: string): Promise<ReloadResult>;
  metrics?(): Promise<{ contentType: string; body: string }>;
  sourceView(): ConfigSourceView;
  /** The threads running listeners (`workers:` above 1); empty with one thread. */
  workers(): readonly WorkerView[];
  /** Present when etcd is the source: changes go there, and the cluster is listed. */
  readonly cluster?: {
    readonly id: string;
    proxies(): readonly Omit<ClusterMemberView, "self">[];
    writeOverride(pool: string, server: string, o: OperatorOverride, reason: string): Promise<void>;
  };
}

function serverView(m: PoolMember, now: number): ServerView {
  const s = m.server;
  const state = s.admin === "maint" ? "maint" : s.admin === "drain" ? "drain" : s.isUp(now) ? "up" : "down";
  return {
    address: s.key,
    state,
    admin_layer: s.adminLayer,
    weight: m.weight,
    backup: m.config.backup,
    max_sessions: s.maxSessions,
    active: s.active,
    total: s.total,
    connect_failures: s.failures,
    failovers: s.failovers,
    layers: {
      config: { weight: m.config.weight, max_sessions: s.maxSessionsConfig },
      health: {
        state: s.health,
        reason: s.healthReason,
        last_probe: s.lastProbe
          ? { ok: s.lastProbe.ok, at: iso(s.lastProbe.at), reason: s.lastProbe.reason }
          : null,
      },
      passive: {
        down_until: s.downUntil > now ? iso(s.downUntil) : null,
        consecutive_failures: s.consecutiveConnectFails,
      },
      agent: {
        admin: s.agentAdmin ?? null,
        weight_percent: s.weightPercent,
        maxconn: s.agentMaxconn,
        down: s.agentDown ?? null,
      },
      esl:
        m.config.esl === undefined
          ? null
          : {
              down: s.eslDown ?? null,
              report: s.load
                ? {
                    session_count: s.load.sessionCount,
                    max_sessions: s.load.maxSessions,
                    idle_cpu: s.load.idleCpu,
                    at: iso(s.load.at),
                    routed_since: s.routedSinceReport,
                  }
                : null,
            },
      operator: { admin: s.operator.admin ?? null, weight: s.operator.weight ?? null },
    },
    last_change: s.lastChange
      ? {
          at: iso(s.lastChange.at),
          layer: s.lastChange.layer,
          what: s.lastChange.what,
          from: s.lastChange.from,
          to: s.lastChange.to,
          reason: s.lastChange.reason,
        }
      : null,
  };
}

function poolView(p: Pool, now: number): PoolView {
  return {
    name: p.name,
    protocol: p.config.protocol,
    balance: p.config.balance,
    servers: p.servers.map((m) => serverView(m, now)),
  };
}

/** The admin API's model over a running proxy. */
export function adminModel(src: AdminSource): AdminModel {
  const rt = src.runtime;
  return {
    status(): StatusView {
      const listeners: ListenerView[] = [...rt.listeners.values()].map((l) => ({
        name: l.config.name,
        protocol: l.config.protocol,
        listen: formatHostPort(l.config.listen),
        port: l.address?.port ?? null,
        tls: l.config.tls !== undefined,
        sessions_active: l.sessions,
        pending: l.pending,
      }));
      const last = src.lastReload();
      return {
        version: VERSION,
        pid: process.pid,
        uptime_s: Math.round((Date.now() - src.startedAt) / 1000),
        config: { source: src.configSource, digest: src.digest() },
        generation: rt.generation.number,
        last_reload: last
          ? {
              at: iso(last.at),
              outcome: last.result.kind,
              reason: last.reason,
              ...(last.result.kind === "rejected"
                ? { error: last.result.error, errors: last.result.error.split("\n"), code: last.result.code }
                : {}),
            }
          : null,
        listeners,
        routes: rt.generation.snapshot.routes.map((r) => ({
          name: r.name,
          listener: r.listener,
          protocol: r.protocol,
          ...(protocolNamed(r.protocol)?.describeRoute(r) ?? { match: "?", action: r.pool ?? "?" }),
        })),
        config_source: src.sourceView(),
        workers: src.workers().map((w) => ({
          worker: w.worker,
          alive: w.alive,
          sessions_active: w.sessions,
          sessions_started: w.started,
          restarts: w.restarts,
        })),
      };
    },
    pools() {
      const now = Date.now();
      return [...rt.generation.pools.values()].map((p) => poolView(p, now));
    },
    pool(name) {
      const p = rt.generation.pools.get(name);
      return p ? poolView(p, Date.now()) : undefined;
    },
    sessions(limit): SessionView[] {
      const now = Date.now();
      const all: SessionView[] = [];
      for (const l of rt.listeners.values())
        for (const s of l.sessionsInfo(limit))
          all.push({
            client: s.client,
            listener: l.config.name,
            protocol: l.config.protocol,
            request: s.request ?? null,
            route: s.route ?? null,
            pool: s.pool ?? null,
            server: s.server ?? null,
            started_at: iso(s.startedAt),
            age_ms: now - s.startedAt,
            bytes_in: s.bytesIn,
            bytes_out: s.bytesOut,
          });
      return all.sort((a, b) => b.started_at.localeCompare(a.started_at)).slice(0, limit);
    },
    change(
      pool: string,
      address: string,
      action: OperatorAction,
      reason: string,
    ): ChangeResult | Promise<ChangeResult> {
      const p = rt.generation.pools.get(pool);
      if (!p) return { ok: false, status: 404, message: `no pool named "${pool}"` };
      const m = p.servers.find((s) => s.key === address);
      if (!m) return { ok: false, status: 404, message: `pool "${pool}" has no server ${address}` };
      const cur = m.server.operator;
      const next: OperatorOverride =
        action.kind === "weight"
          ? { admin: cur.admin, weight: action.weight ?? undefined }
          : { admin: action.kind === "ready" ? undefined : action.kind, weight: cur.weight };
      const cluster = src.cluster;
      if (!cluster) {
        rt.registry.override(m.key, next, reason);
        return { ok: true, server: serverView(m, Date.now()) };
      }
      // Written to etcd first: every proxy (this one too) applies what it watches there.
      return cluster.writeOverride(pool, m.key, next, reason).then(
        (): ChangeResult => {
          rt.registry.override(m.key, next, `${reason} (etcd)`);
          return { ok: true, server: serverView(m, Date.now()) };
        },
        (err: unknown): ChangeResult => ({
          ok: false,
          status: 503,
          message: `etcd did not take the change, so no proxy applies it: ${err instanceof Error ? err.message : String(err)}`,
        }),
      );
    },
    ...(src.cluster
      ? {
          cluster: () => {
            const c = src.cluster!;
            return { id: c.id, proxies: c.proxies().map((p) => ({ ...p, self: p.id === c.id })) };
          },
        }
      : {}),
    async reload(reason) {
      const r = await src.reload(reason);
      if (r.kind === "rejected") return { ok: false, errors: r.error.split("\n"), code: r.code };
      return { ok: true, outcome: r.kind, generation: rt.generation.number };
    },
    ...(src.metrics ? { metrics: () => src.metrics!() } : {}),
  };
}
