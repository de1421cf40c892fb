import type { ScriptOutcome } from "../../core/script-runner.ts";
import { type AgiRequest, type CompiledTemplate, fullUrl, queryParams, splitAgiUrl } from "./request.ts";
import { parseAgiUrl } from "./target.ts";
import type { FastAgiRoute as RouteConfig, RouteTarget } from "./types.ts";

/** Re-injection is bounded: a rewritten request re-enters the routes at most this many times. */
export const MAX_HOPS = 4;

export interface RouteTable {
  readonly routes: readonly RouteConfig[];
  readonly hasPool: (name: string) => boolean;
  readonly runScript: (route: RouteConfig, request: unknown) => Promise<ScriptOutcome>;
}

export type RouteDecision =
  | { kind: "pool"; route: RouteConfig; pool: string; request: AgiRequest; hops: number }
  | { kind: "target"; route: RouteConfig; target: RouteTarget; request: AgiRequest; hops: number }
  | { kind: "none"; hops: number }
  | { kind: "error"; route: RouteConfig | undefined; message: string; hops: number; reinjectLoop?: true };

/**
 * Longer values match no pattern: an ordinary unanchored pattern (`.*VIP`) is quadratic in its
 * input, and a caller's 30,000-character agi_calleridname held the proxy's thread for 1.5–2.4 s
 * (2,048 characters: about 10 ms). Asterisk's own values are far shorter.
 */
export const MATCH_MAX = 2048;

function matches(route: RouteConfig, req: AgiRequest): RegExpExecArray | null | false {
  let m: RegExpExecArray | null = null;
  if (route.match.path) {
    if (req.path.length > MATCH_MAX) return false;
    m = route.match.path.exec(req.path);
    if (!m) return false;
  }
  if (route.match.query.length > 0) {
    const params = queryParams(req.query);
    for (const [k, re] of route.match.query) {
      const v = params.get(k);
      if (v === undefined || v.length > MATCH_MAX || !re.test(v)) return false;
    }
  }
  for (const [k, re] of route.match.header) {
    const v = req.vars.get(k);
    if (v === undefined || v.length > MATCH_MAX || !re.test(v)) return false;
  }
  return m;
}

/** Applies a rewrite: a new path, and a new query only if the template gives one. */
function rewrite(req: AgiRequest, template: CompiledTemplate, m: RegExpExecArray | null): AgiRequest {
  const out = template(m, req.vars);
  const q = out.indexOf("?");
  if (q < 0) return { ...req, path: out };
  return { ...req, path: out.slice(0, q), query: out.slice(q + 1) };
}

/** A request sent to a fixed target: the target's authority and, if its URL has one, its path. */
function retarget(req: AgiRequest, target: RouteTarget): AgiRequest {
  const origin = `agi://${target.authority}`;
  if (target.pathAndQuery === undefined) return { ...req, origin };
  const parts = splitAgiUrl(`${origin}${target.pathAndQuery}`);
  return parts ? { ...req, ...parts } : { ...req, origin };
}

/** What a route script is given: plain data, structured-clone safe. */
export function scriptView(listener: string, req: AgiRequest): Record<string, unknown> {
  return {
    listener,
    url: fullUrl(req),
    path: req.path,
    query: req.query ?? "",
    params: Object.fromEntries(queryParams(req.query)),
    vars: Object.fromEntries(req.vars),
  };
}

async function fromScript(
  table: RouteTable,
  route: RouteConfig,
  listener: string,
  req: AgiRequest,
  hops: number,
): Promise<RouteDecision | undefined> {
  const out = await table.runScript(route, scriptView(listener, req));
  if (!out.ok) return { kind: "error", route, message: out.error, hops };
  const v = out.value;
  if (v === null || v === undefined || v === false) return undefined;
  const pool =
    typeof v === "string"
      ? v
      : typeof v === "object" && "pool" in v
        ? (v as { pool: unknown }).pool
        : undefined;
  if (typeof pool === "string") {
    if (!table.hasPool(pool))
      return { kind: "error", route, message: `route script chose unknown pool "${pool}"`, hops };
    return { kind: "pool", route, pool, request: req, hops };
  }
  const to = typeof v === "object" && "to" in v ? (v as { to: unknown }).to : undefined;
  if (typeof to === "string") {
    const u = parseAgiUrl(to);
    if (typeof u === "string")
      return { kind: "error", route, message: `route script returned a bad target: ${u}`, hops };
    return { kind: "target", route, target: u, request: retarget(req, u), hops };
  }
  return {
    kind: "error",
    route,
    message: "route script returned neither a pool name, {pool}, {to} nor nothing",
    hops,
  };
}

/**
 * Matches the routes of a listener in order; the first match wins. A route with
 * `reinject: true` sends its rewritten request through the routes again (bounded).
 */
export async function decide(
  table: RouteTable,
  listener: string,
  request: AgiRequest,
  hops = 0,
): Promise<RouteDecision> {
  for (const route of table.routes) {
    if (route.listener !== listener) continue;
    const m = matches(route, request);
    if (m === false) continue;
    if (route.script) {
      const d = await fromScript(table, route, listener, request, hops);
      if (d) return d;
      continue;
    }
    const req = route.rewriteTemplate === undefined ? request : rewrite(request, route.rewriteTemplate, m);
    if (route.reinject) {
      if (hops + 1 >= MAX_HOPS) {
        return {
          kind: "error",
          route,
          message: `request re-injected more than ${MAX_HOPS - 1} times`,
          hops: hops + 1,
          reinjectLoop: true,
        };
      }
      const again = await decide(table, listener, req, hops + 1);
      if (again.kind !== "none") return again;
      if (route.pool === undefined && route.to === undefined) return again;
    }
    if (route.to) return { kind: "target", route, target: route.to, request: retarget(req, route.to), hops };
    if (route.pool !== undefined) return { kind: "pool", route, pool: route.pool, request: req, hops };
  }
  return { kind: "none", hops };
}
