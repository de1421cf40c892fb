import { parseHostPort } from "../../../core/address.ts";
import type { Overlay, OverlayItem, RejectedKey } from "../types.ts";
import { decodeValue, sortedKeys } from "./native.ts";

/** An instance's status as gogeta computed it (reference/gogeta.md, "Computed status"). */
export type GogetaStatus = "started" | "starting" | "passivated" | "stopped" | "error";

export interface GogetaLayout {
  /** e.g. /domains (no trailing slash) */
  readonly domains: string;
  /** e.g. /services */
  readonly services: string;
  /** The HTTP listener the routes belong to. */
  readonly listener: string;
}

/**
 * The seed's table: routable only when current and expected are `started` and the `alive`
 * heartbeat is non-empty (its TTL expiring deletes it: a stale service is not routable).
 * An instance with no status keys at all counts as started.
 */
export function computeStatus(
  current: string | undefined,
  expected: string | undefined,
  alive: string | undefined,
): GogetaStatus {
  if (current === undefined && expected === undefined && alive === undefined) return "started";
  if (current === "started" && expected === "started") return alive ? "started" : "error";
  if (current === "starting" && expected === "started") return "starting";
  if (current === "stopped" && expected === "passivated") return "passivated";
  if ((current === "stopped" || current === "stopping") && expected === "stopped") return "stopped";
  return "error";
}

/** When nothing of a service is routable, the page it answers: the most hopeful status wins. */
const PRECEDENCE: readonly GogetaStatus[] = ["starting", "passivated", "stopped", "error"];

interface Instance {
  /** Its keys' prefix: `<base>/<name>/<index>`, or `<base>/<name>` for the index-less form. */
  readonly prefix: string;
  address: string | undefined;
  current?: string;
  expected?: string;
  alive?: string;
}

interface Service {
  /** Routable instances' host:port, in index order: the round-robin pool. */
  readonly servers: string[];
  /** The status page when none is routable. */
  readonly status: GogetaStatus;
  /** The passivated instances' `status/expected` keys: a request writes `started` there. */
  readonly wake: string[];
}

/**
 * An instance's `location` as a pool address; a reason when it holds none. The host must be
 * an IP address or a DNS name: one hostile instance (a host with spaces or CR LF) must be
 * rejected alone, never reach the pool (where it failed the whole service's validation).
 */
function locationOf(text: string): string | { readonly error: string } {
  const v = decodeValue(text);
  if (!v.ok || v.value === null || typeof v.value !== "object") return { error: "not a JSON object" };
  const { host, port } = v.value as { host?: unknown; port?: unknown };
  if (typeof host !== "string" || host === "") return { error: "host is not a non-empty string" };
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    return { error: "port is not an integer from 1 to 65535" };
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const hp = parseHostPort(address);
  return typeof hp === "string" ? { error: hp.slice(0, 120) } : address;
}

/** What an instance's key names, after its prefix. */
const FIELDS = new Set(["location", "status/current", "status/expected", "status/alive"]);

/**
 * A service key as instance and field: `<name>/<index>/<field>`, or the index-less
 * `<name>/<field>` that the seed README's own sample writes (`/services/myService/location`),
 * read as the service's one instance. Undefined for any other key.
 */
function instanceKey(path: string): { name: string; instance: string; field: string } | undefined {
  const [name, ...rest] = path.split("/");
  if (!name || rest.length === 0) return undefined;
  const bare = rest.join("/");
  if (FIELDS.has(bare)) return { name, instance: "", field: bare };
  const [index, ...more] = rest;
  const field = more.join("/");
  return index && FIELDS.has(field) ? { name, instance: index, field } : undefined;
}

/** `/services/<name>/<index>/…` into each service's routable servers, status and wake keys. */
export function readServices(
  kvs: ReadonlyMap<string, string>,
  base: string,
  rejected: RejectedKey[] = [],
): Map<string, Service> {
  const byService = new Map<string, Map<string, Instance>>();
  for (const key of sortedKeys(kvs, `${base}/`)) {
    const k = instanceKey(key.slice(base.length + 1));
    if (k === undefined) continue;
    const { name, instance, field: what } = k;
    const insts = byService.get(name) ?? new Map<string, Instance>();
    byService.set(name, insts);
    const prefix = instance === "" ? `${base}/${name}` : `${base}/${name}/${instance}`;
    const inst = insts.get(instance) ?? { prefix, address: undefined };
    insts.set(instance, inst);
    const value = kvs.get(key) ?? "";
    if (what === "location") {
      const loc = locationOf(value);
      if (typeof loc === "string") inst.address = loc;
      else rejected.push({ key, reason: `etcd:${key} (root): ${loc.error}` });
    } else if (what === "status/current") inst.current = value;
    else if (what === "status/expected") inst.expected = value;
    else if (what === "status/alive") inst.alive = value;
  }
  const out = new Map<string, Service>();
  for (const [name, insts] of byService) {
    const servers: string[] = [];
    const wake: string[] = [];
    let status: GogetaStatus | undefined;
    for (const inst of insts.values()) {
      const s = computeStatus(inst.current, inst.expected, inst.alive);
      if (s === "started" && inst.address !== undefined) {
        if (!servers.includes(inst.address)) servers.push(inst.address);
        continue;
      }
      if (s === "passivated") wake.push(`${inst.prefix}/status/expected`);
      // A started instance without a complete location counts as an error page, never as up.
      const shown = s === "started" ? "error" : s;
      if (status === undefined || PRECEDENCE.indexOf(shown) < PRECEDENCE.indexOf(status)) status = shown;
    }
    out.set(name, { servers, status: status ?? "error", wake });
  }
  return out;
}

/** `http://host[:port]/…` into a pool server; undefined when it is not such a URL. */
function uriServer(value: string): { address: string; tls: boolean } | undefined {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
  const tls = u.protocol === "https:";
  const port = u.port === "" ? (tls ? 443 : 80) : Number(u.port);
  return { address: `${u.hostname}:${port}`, tls };
}

/**
 * The seed's layout as routes and pools of one HTTP listener: per domain a route on its
 * host; per service a round-robin pool `gogeta.<service>` of its routable instances; a
 * `uri` domain a one-server pool `gogeta.uri.<domain>`. A route whose service has nothing
 * routable carries the status page to answer (and the keys a request wakes).
 */
export function gogetaOverlay(kvs: ReadonlyMap<string, string>, layout: GogetaLayout): Overlay {
  const routes: OverlayItem[] = [];
  const pools: OverlayItem[] = [];
  const rejected: RejectedKey[] = [];
  const services = readServices(kvs, layout.services, rejected);
  const pooled = new Set<string>();
  const domains = new Map<string, { type?: string; value?: string }>();
  for (const key of sortedKeys(kvs, `${layout.domains}/`)) {
    const [domain, field, ...more] = key.slice(layout.domains.length + 1).split("/");
    if (!domain || more.length > 0 || (field !== "type" && field !== "value")) continue;
    const d = domains.get(domain) ?? {};
    d[field] = (kvs.get(key) ?? "").trim();
    domains.set(domain, d);
  }
  for (const [domain, d] of domains) {
    const key = `${layout.domains}/${domain}`;
    const base = { listener: layout.listener, name: `gogeta:${domain}`, match: { host: domain } };
    if (d.type === "uri") {
      const s = uriServer(d.value ?? "");
      if (!s) {
        rejected.push({
          key,
          reason: `etcd:${key}/value (root): a uri domain needs an http:// or https:// URL`,
        });
        continue;
      }
      const pool = `gogeta.uri.${domain}`;
      pools.push({
        key,
        name: pool,
        value: {
          balance: "round-robin",
          servers: [{ address: s.address, ...(s.tls ? { tls: true } : {}) }],
        },
      });
      routes.push({ key, name: base.name, value: { ...base, pool } });
      continue;
    }
    if (d.type !== "service" || !d.value) {
      rejected.push({ key, reason: `etcd:${key} (root): give type (service or uri) and value` });
      continue;
    }
    const name = d.value;
    const svc = services.get(name);
    const pool = `gogeta.${name}`;
    if (svc && svc.servers.length > 0) {
      if (!pooled.has(name)) {
        pooled.add(name);
        pools.push({
          key: `${layout.services}/${name}`,
          name: pool,
          value: { balance: "round-robin", servers: svc.servers.map((address) => ({ address })) },
        });
      }
      routes.push({ key, name: base.name, value: { ...base, pool, service: name } });
    } else {
      const status = svc?.status ?? "error";
      const wake = status === "passivated" ? (svc?.wake ?? []) : [];
      routes.push({
        key,
        name: base.name,
        value: { ...base, service: name, status, ...(wake.length > 0 ? { wake } : {}) },
      });
    }
  }
  return { routes, pools, rejected };
}

/** Two overlays as one: the first's items, then the second's. */
export function joinOverlays(a: Overlay, b: Overlay): Overlay {
  return {
    routes: [...a.routes, ...b.routes],
    pools: [...a.pools, ...b.pools],
    rejected: [...a.rejected, ...b.rejected],
  };
}
