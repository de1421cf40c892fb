import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import { buildContext } from "./context.ts";
import type { RawConfig } from "./schema.ts";
import { buildAdmin } from "./sections/admin.ts";
import { buildListeners } from "./sections/listeners.ts";
import { buildLog } from "./sections/log.ts";
import { buildPools } from "./sections/pools.ts";
import { buildRoutes, routeProtocols, serverTransports } from "./sections/routes.ts";
import type { ConfigIssue, ProtocolConfigSpec } from "./spec.ts";
import type { Snapshot } from "./types.ts";

export type { ConfigIssue, ConfigPath } from "./spec.ts";

/** Deep-freezes plain objects, arrays and maps so no component can mutate a snapshot. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (Buffer.isBuffer(value) || value instanceof RegExp) return value;
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
    Object.freeze(value);
    return value;
  }
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}

/**
 * Validated input → normalised, frozen snapshot, section by section; every problem of every
 * section is collected, so one reload reports them all.
 */
export function buildSnapshot(
  raw: RawConfig,
  source: string,
  text: string,
  protocolList: readonly ProtocolConfigSpec[],
): { ok: true; snapshot: Snapshot } | { ok: false; issues: ConfigIssue[] } {
  const protocols = new Map(protocolList.map((p) => [p.name, p]));
  const ctx = buildContext(source === "<inline>" ? process.cwd() : dirname(resolve(source)));
  const log = buildLog(raw.log, ctx);
  const admin = buildAdmin(raw.admin, ctx);
  const { listeners, broken } = buildListeners(raw.listeners, protocols, ctx);
  const used = routeProtocols(raw.routes ?? [], listeners);
  const fallback = listeners[0] ? protocols.get(listeners[0].protocol) : protocolList[0];
  const pools = buildPools(
    raw.pools ?? {},
    (name) => {
      const set = used.get(name);
      if (set && set.size > 1)
        return `pool "${name}" is used by routes of ${[...set].join(" and ")} listeners: give each protocol its own pool`;
      const spec = set ? protocols.get([...set][0] as string) : fallback;
      return spec ?? "no protocol for this pool";
    },
    serverTransports(raw.routes ?? [], listeners, protocols),
    ctx,
  );
  const routes = buildRoutes(raw.routes ?? [], listeners, protocols, (n) => pools.has(n), broken, ctx);
  if (ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
  // The digest covers what the snapshot was built from, so a reload of identical input is a no-op.
  const digest = createHash("sha256").update(text);
  for (const b of ctx.files) digest.update(b);
  const snapshot: Snapshot = {
    source,
    digest: digest.digest("hex"),
    files: [...new Set(ctx.paths)],
    log,
    shutdownTimeoutMs: raw.shutdown_timeout,
    workers: raw.workers === "auto" ? Math.min(64, availableParallelism()) : (raw.workers ?? 1),
    admin,
    listeners,
    routes,
    pools,
  };
  return { ok: true, snapshot: deepFreeze(snapshot) };
}

/**
 * The listener and route problems of a config whose other sections failed validation, so
 * one report still names every problem (buildSnapshot runs only on a valid whole).
 */
export function itemIssues(
  data: unknown,
  source: string,
  protocolList: readonly ProtocolConfigSpec[],
): ConfigIssue[] {
  const d = (data ?? {}) as { listeners?: unknown; routes?: unknown };
  const items = (v: unknown) =>
    Array.isArray(v) && v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))
      ? (v as Record<string, unknown>[])
      : undefined;
  const rawListeners = items(d.listeners);
  if (!rawListeners) return [];
  const protocols = new Map(protocolList.map((p) => [p.name, p]));
  const ctx = buildContext(source === "<inline>" ? process.cwd() : dirname(resolve(source)));
  const { listeners, broken } = buildListeners(rawListeners, protocols, ctx);
  const rawRoutes = items(d.routes);
  if (rawRoutes) buildRoutes(rawRoutes, listeners, protocols, () => true, broken, ctx);
  return ctx.issues;
}
