import { parse } from "yaml";
import { errorMessage } from "../../../core/errors.ts";
import type { Overlay, OverlayItem, RejectedKey } from "../types.ts";

/** Keys in byte order, as etcd lists them: routes apply in this order after the file's. */
export function sortedKeys(kvs: ReadonlyMap<string, string>, prefix: string): string[] {
  const out: string[] = [];
  for (const k of kvs.keys()) if (k.startsWith(prefix)) out.push(k);
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** A value as YAML (JSON is YAML); undefined and a reason when it does not parse. */
export function decodeValue(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: parse(text, { maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { ok: false, reason: (errorMessage(err).split("\n")[0] ?? "").trim() || "not YAML" };
  }
}

/**
 * The native layout: `<prefix>routes/<name>` holds one route, `<prefix>pools/<name>` one
 * pool, each a YAML or JSON object with the same keys as in the file. Deeper keys are
 * not ours to guess at: reported and ignored.
 */
export function nativeOverlay(kvs: ReadonlyMap<string, string>, prefix: string): Overlay {
  const routes: OverlayItem[] = [];
  const pools: OverlayItem[] = [];
  const rejected: RejectedKey[] = [];
  for (const [section, into] of [
    ["routes/", routes],
    ["pools/", pools],
  ] as const) {
    for (const key of sortedKeys(kvs, prefix + section)) {
      const name = key.slice(prefix.length + section.length);
      if (name === "" || name.includes("/")) {
        rejected.push({ key, reason: `etcd:${key} (root): use ${prefix}${section}<name>, one level` });
        continue;
      }
      const v = decodeValue(kvs.get(key) ?? "");
      if (!v.ok) rejected.push({ key, reason: `etcd:${key} (root): not YAML or JSON: ${v.reason}` });
      else into.push({ key, name, value: v.value });
    }
  }
  return { routes, pools, rejected };
}

/** An operator override shared by the cluster: `<prefix>overrides/<pool>/<server>`. */
export interface SharedOverride {
  readonly key: string;
  readonly pool: string;
  readonly server: string;
  readonly admin: "drain" | "maint" | undefined;
  readonly weight: number | undefined;
  readonly reason: string;
  readonly by: string;
}

/** The overrides under `<prefix>overrides/`; values that are not one are skipped (and named). */
export function overridesOf(
  kvs: ReadonlyMap<string, string>,
  prefix: string,
): { overrides: SharedOverride[]; rejected: RejectedKey[] } {
  const overrides: SharedOverride[] = [];
  const rejected: RejectedKey[] = [];
  const base = `${prefix}overrides/`;
  for (const key of sortedKeys(kvs, base)) {
    const [pool, server, ...more] = key.slice(base.length).split("/");
    const v = decodeValue(kvs.get(key) ?? "");
    const o = v.ok ? (v.value as Record<string, unknown> | null) : null;
    const admin = o?.admin;
    const weight = o?.weight;
    if (
      !pool ||
      !server ||
      more.length > 0 ||
      o === null ||
      typeof o !== "object" ||
      (admin !== undefined && admin !== null && admin !== "drain" && admin !== "maint") ||
      (weight !== undefined && weight !== null && (typeof weight !== "number" || !Number.isInteger(weight)))
    ) {
      rejected.push({
        key,
        reason: `etcd:${key} (root): an override is {"admin": "drain"|"maint"|null, "weight": N|null} under overrides/<pool>/<server>`,
      });
      continue;
    }
    overrides.push({
      key,
      pool,
      server,
      admin: admin === "drain" || admin === "maint" ? admin : undefined,
      weight: typeof weight === "number" ? weight : undefined,
      reason: typeof o.reason === "string" ? o.reason : "",
      by: typeof o.by === "string" ? o.by : "",
    });
  }
  return { overrides, rejected };
}

/** One proxy of the cluster as it registered itself under `<prefix>proxies/<id>`. */
export interface ProxyRecord {
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  readonly admin: string | null;
  readonly revision: number;
  readonly digest: string;
  readonly started_at: string;
}

export function proxiesOf(kvs: ReadonlyMap<string, string>, prefix: string): ProxyRecord[] {
  const out: ProxyRecord[] = [];
  for (const key of sortedKeys(kvs, `${prefix}proxies/`)) {
    const v = decodeValue(kvs.get(key) ?? "");
    if (!v.ok || v.value === null || typeof v.value !== "object") continue;
    const o = v.value as Record<string, unknown>;
    out.push({
      // The key names the proxy (it registered there under its lease): a record's own `id`
      // could claim another proxy's and show twice as "this one".
      id: key.slice(prefix.length + 8),
      hostname: typeof o.hostname === "string" ? o.hostname : "",
      pid: typeof o.pid === "number" ? o.pid : 0,
      admin: typeof o.admin === "string" ? o.admin : null,
      revision: typeof o.revision === "number" ? o.revision : 0,
      digest: typeof o.digest === "string" ? o.digest : "",
      started_at: typeof o.started_at === "string" ? o.started_at : "",
    });
  }
  return out;
}
