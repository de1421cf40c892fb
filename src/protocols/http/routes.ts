/**
 * HTTP's route table for one generation. Per listener: routes of an exact host first, then
 * of the longest wildcard suffix, then host-less ones; among routes of the same host the
 * longest path prefix wins, then config order (the shared contract of issue #14).
 */

import type { ProtocolRoutes } from "../protocol.ts";
import type { HttpRoute } from "./config.ts";

/** Routes of one host pattern, longest path prefix first (a stable sort keeps config order). */
type ByPrefix = readonly HttpRoute[];

interface ListenerTable {
  readonly exact: ReadonlyMap<string, ByPrefix>;
  /** Wildcard suffixes (".example.com"), longest first. */
  readonly wildcards: readonly (readonly [string, ByPrefix])[];
  readonly any: ByPrefix;
}

function byPrefix(routes: HttpRoute[]): ByPrefix {
  return routes.sort((a, b) => b.match.pathPrefix.length - a.match.pathPrefix.length);
}

function firstPrefix(routes: ByPrefix | undefined, path: string): HttpRoute | undefined {
  if (routes === undefined) return undefined;
  for (const r of routes) if (path.startsWith(r.match.pathPrefix)) return r;
  return undefined;
}

function buildTable(routes: readonly HttpRoute[]): ListenerTable {
  const exact = new Map<string, HttpRoute[]>();
  const wild = new Map<string, HttpRoute[]>();
  const any: HttpRoute[] = [];
  for (const r of routes) {
    const h = r.match.host;
    if (h.kind === "exact") exact.set(h.host, [...(exact.get(h.host) ?? []), r]);
    else if (h.kind === "wildcard") wild.set(h.suffix, [...(wild.get(h.suffix) ?? []), r]);
    else any.push(r);
  }
  return {
    exact: new Map([...exact].map(([k, v]) => [k, byPrefix(v)])),
    wildcards: [...wild].sort((a, b) => b[0].length - a[0].length).map(([k, v]) => [k, byPrefix(v)] as const),
    any: byPrefix(any),
  };
}

/** The routes of every HTTP listener for one generation; nothing to close. */
export class HttpRoutes implements ProtocolRoutes {
  readonly lingerMs = 0;
  readonly routes: readonly HttpRoute[];
  readonly #tables = new Map<string, ListenerTable>();

  constructor(routes: readonly HttpRoute[]) {
    this.routes = routes;
    const byListener = new Map<string, HttpRoute[]>();
    for (const r of routes) byListener.set(r.listener, [...(byListener.get(r.listener) ?? []), r]);
    for (const [l, rs] of byListener) this.#tables.set(l, buildTable(rs));
  }

  /** The route for a normalised host and a request path, or undefined (404). */
  find(listener: string, host: string, path: string): HttpRoute | undefined {
    const t = this.#tables.get(listener);
    if (t === undefined) return undefined;
    const exact = firstPrefix(t.exact.get(host), path);
    if (exact) return exact;
    for (const [suffix, rs] of t.wildcards) {
      if (host.length <= suffix.length || !host.endsWith(suffix)) continue;
      const r = firstPrefix(rs, path);
      if (r) return r;
    }
    return firstPrefix(t.any, path);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
