import { z } from "zod";
import type { SnapshotContext } from "../context.ts";
import { routeCommon, zodIssues } from "../schema.ts";
import type { ProtocolConfigSpec } from "../spec.ts";
import type { ListenerConfig, PingTransport, RouteConfig } from "../types.ts";

/** The protocol of each route, by its listener: what the pools section needs first. */
export function routeProtocols(
  raw: readonly Record<string, unknown>[],
  listeners: readonly ListenerConfig[],
): Map<string, Set<string>> {
  const byListener = new Map(listeners.map((l) => [l.name, l.protocol]));
  const pools = new Map<string, Set<string>>();
  for (const r of raw) {
    const proto = typeof r.listener === "string" ? byListener.get(r.listener) : undefined;
    if (proto === undefined || typeof r.pool !== "string") continue;
    const set = pools.get(r.pool) ?? new Set<string>();
    set.add(proto);
    pools.set(r.pool, set);
  }
  return pools;
}

/**
 * Per pool, the transports its servers are reached with, each with the listeners that reach
 * them so (protocols whose listeners say one: SIP's), for the pool's `sip-options` pings.
 */
export function serverTransports(
  raw: readonly Record<string, unknown>[],
  listeners: readonly ListenerConfig[],
  protocols: ReadonlyMap<string, ProtocolConfigSpec>,
): Map<string, Map<PingTransport, string[]>> {
  const byName = new Map(listeners.map((l) => [l.name, l]));
  const pools = new Map<string, Map<PingTransport, string[]>>();
  for (const r of raw) {
    const l = typeof r.listener === "string" ? byName.get(r.listener) : undefined;
    const t = l && protocols.get(l.protocol)?.serverTransport?.(l.options);
    if (l === undefined || t === undefined || typeof r.pool !== "string") continue;
    const byTransport = pools.get(r.pool) ?? new Map<PingTransport, string[]>();
    const names = byTransport.get(t) ?? [];
    if (!names.includes(l.name)) names.push(l.name);
    byTransport.set(t, names);
    pools.set(r.pool, byTransport);
  }
  return pools;
}

/** Routes: common keys, then each against the protocol of its listener. */
/** One schema per protocol's route shape, built once: 10,000 routes built 10,000 schemas (seconds). */
const schemas = new WeakMap<object, z.ZodType>();
function routeSchema(spec: { readonly routeShape: z.ZodRawShape }): z.ZodType {
  let s = schemas.get(spec.routeShape);
  if (s === undefined) {
    s = z.strictObject({ ...routeCommon, ...spec.routeShape });
    schemas.set(spec.routeShape, s);
  }
  return s;
}

export function buildRoutes(
  raw: readonly Record<string, unknown>[],
  listeners: readonly ListenerConfig[],
  protocols: ReadonlyMap<string, ProtocolConfigSpec>,
  hasPool: (name: string) => boolean,
  broken: ReadonlySet<string>,
  ctx: SnapshotContext,
): RouteConfig[] {
  const byListener = new Map(listeners.map((l) => [l.name, l]));
  const out: RouteConfig[] = [];
  raw.forEach((item, i) => {
    const path = ["routes", i];
    const listener = typeof item.listener === "string" ? byListener.get(item.listener) : undefined;
    if (!listener) {
      if (typeof item.listener === "string" && broken.has(item.listener)) return;
      if (typeof item.listener === "string")
        ctx.fail([...path, "listener"], `no listener named "${item.listener}"`);
      else ctx.fail([...path, "listener"], "name the listener whose sessions this route sees");
      return;
    }
    const spec = protocols.get(listener.protocol);
    if (!spec) return;
    const parsed = routeSchema(spec).safeParse(item);
    if (!parsed.success) {
      for (const is of zodIssues(parsed.error, path)) ctx.fail(is.path, is.message);
      return;
    }
    const r = parsed.data as Record<string, unknown> & z.output<z.ZodObject<typeof routeCommon>>;
    if (r.pool !== undefined && !hasPool(r.pool)) ctx.fail([...path, "pool"], `no pool named "${r.pool}"`);
    const base: RouteConfig = {
      index: i,
      name: r.name ?? `#${i + 1}`,
      listener: listener.name,
      protocol: spec.name,
      pool: r.pool,
    };
    const built = spec.buildRoute(r, base, path, ctx);
    if (built) out.push(built);
  });
  return out;
}
