/**
 * SIP's route table for one generation: the first route of a listener whose every regex
 * matches an initial request names its pool. In-dialog requests never come here: they go
 * where the Record-Route token says.
 */

import type { ProtocolRoutes } from "../protocol.ts";
import type { SipRoute } from "./config.ts";
import { parseNameAddr } from "./fields.ts";
import { headerValue } from "./headers.ts";
import type { SipRequest } from "./types.ts";
import { parseUri } from "./uri.ts";

/** What routes match on, read once from a request. */
export interface SipRouteVars {
  readonly method: string;
  readonly ruriUser: string;
  readonly ruriHost: string;
  readonly fromUser: string;
  readonly toUser: string;
}

function userOf(addr: string | undefined): string {
  if (addr === undefined) return "";
  const a = parseNameAddr(addr);
  if (!a.ok) return "";
  const u = parseUri(a.addr.uri);
  return u.ok ? (u.uri.user ?? "") : "";
}

export function routeVars(req: SipRequest): SipRouteVars {
  const ruri = parseUri(req.uri);
  return {
    method: req.method,
    ruriUser: ruri.ok ? (ruri.uri.user ?? "") : "",
    ruriHost: ruri.ok ? ruri.uri.host : "",
    fromUser: userOf(headerValue(req, "from")),
    toUser: userOf(headerValue(req, "to")),
  };
}

function test(re: RegExp | undefined, value: string): boolean {
  return re === undefined || re.test(value);
}

export function routeMatches(route: SipRoute, req: SipRequest, vars: SipRouteVars): boolean {
  const m = route.match;
  if (!test(m.method, vars.method)) return false;
  if (!test(m.ruriUser, vars.ruriUser) || !test(m.ruriHost, vars.ruriHost)) return false;
  if (!test(m.fromUser, vars.fromUser) || !test(m.toUser, vars.toUser)) return false;
  for (const [name, re] of m.headers) {
    const v = headerValue(req, name);
    if (v === undefined || !re.test(v)) return false;
  }
  return true;
}

/** The routes of every SIP listener for one generation; nothing to close. */
export class SipRoutes implements ProtocolRoutes {
  readonly lingerMs = 0;
  readonly routes: readonly SipRoute[];

  constructor(routes: readonly SipRoute[]) {
    this.routes = routes;
  }

  /** The first route of `listener` that matches, or undefined. */
  find(listener: string, req: SipRequest): SipRoute | undefined {
    let vars: SipRouteVars | undefined;
    for (const r of this.routes) {
      if (r.listener !== listener) continue;
      vars ??= routeVars(req);
      if (routeMatches(r, req, vars)) return r;
    }
    return undefined;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
