/**
 * Where an in-dialog request goes (RFC 3261 §16.4, §16.6 with loose routing): the signed
 * token in our Route names the dialog's server. From that server the request goes on toward
 * the caller (next Route, else the Request-URI); from anyone else, to that server. A call
 * learned this way (after a restart, or on a sibling proxy) enters the calls table again.
 */

import type { PoolMember } from "../../balance/pool.ts";
import type { CallTable } from "./calls.ts";
import { routeToken, routeTransport, uriTarget } from "./forward.ts";
import { headerValue, headerValues } from "./headers.ts";
import { findMember, keyTarget, memberTarget, type SipProxyEnv } from "./proxy-env.ts";
import { own } from "./recent.ts";
import { RR_TOKEN_PARAM, verifyServer } from "./rr-token.ts";
import type { SipPeer } from "./transport.ts";
import { nameAddrUri } from "./tx-key.ts";
import type { SipRequest } from "./types.ts";
import { sameHost } from "./uri.ts";

export type DialogHop =
  | {
      readonly ok: true;
      readonly target: SipPeer;
      /** The server's member in a pool of this generation; undefined when only the calls table knows it. */
      readonly member: PoolMember | undefined;
      readonly fromServer: boolean;
    }
  | { readonly ok: false; readonly status: number; readonly drop?: string; readonly warning?: string };

/**
 * `original` is the request as received, `routed` after our `popped` Route values came off.
 * Refusals: 403 (no valid token), 404 (a server no pool lists and no call of ours is on),
 * 400 (no next hop toward the caller).
 */
export function dialogHop(
  env: SipProxyEnv,
  calls: CallTable,
  original: SipRequest,
  routed: SipRequest,
  popped: number,
  source: SipPeer,
): DialogHop {
  const token = routeToken(headerValues(original, "route")[0] ?? "", RR_TOKEN_PARAM);
  const callId = headerValue(original, "call-id") ?? "";
  const call = calls.get(callId);
  let verified: string | undefined;
  // The first request of a dialog pays the HMAC; the call then remembers the token it proved.
  if (token !== undefined && call?.verifiedToken === token) verified = call.server;
  else {
    const v = token === undefined ? undefined : verifyServer(token, env.keys, { context: callId });
    if (v?.ok) {
      verified = v.server;
      if (call !== undefined && call.server === v.server && token !== undefined)
        call.verifiedToken = own(token);
    }
  }
  if (verified === undefined)
    return { ok: false, status: 403, drop: "bad_token", warning: "bad route token" };
  const v = { server: verified };
  const member = findMember(env.pools(), v.server);
  // A server a reload took out of every pool still serves the dialogs we set up on it: the
  // calls table vouches for those (a token alone does not, when the key is the derived one).
  const known = member === undefined && call?.server === v.server;
  const server =
    member !== undefined
      ? memberTarget(member, env.serverTransport)
      : known
        ? keyTarget(v.server, env.serverTransport)
        : undefined;
  if (server === undefined)
    return { ok: false, status: 404, drop: "unknown_server", warning: "server no longer known" };
  // A server on TCP or TLS may open a connection of its own, from any port: its address tells.
  const stream = source.transport !== "udp" && source.transport === env.serverTransport;
  const fromServer = sameHost(source.host, server.host) && (source.port === server.port || stream);
  if (!fromServer) return { ok: true, target: server, member, fromServer };
  // Toward the caller: the transport its URI names, else the one of our entry that faces it
  // (the last of ours popped: the lower one of a double Record-Route).
  const ours = headerValues(original, "route").slice(0, popped);
  const facing = routeTransport(ours.at(-1) ?? "") ?? source.transport;
  const next = headerValues(routed, "route")[0];
  const target = next === undefined ? uriTarget(routed.uri, facing) : uriTarget(nameAddrUri(next), facing);
  return target === undefined ? { ok: false, status: 400 } : { ok: true, target, member, fromServer };
}

/** After a restart (or on a sibling proxy), a dialog's first request enters the table again. */
export function rebuildCall(
  env: SipProxyEnv,
  calls: CallTable,
  req: SipRequest,
  callId: string,
  member: PoolMember,
  caller: SipPeer,
): void {
  if (calls.full || calls.endedLately(callId)) return;
  const pool = env.pools().get(member.pool);
  // Counted on its server again, so least-sessions and max_sessions see it.
  const held = pool?.adopt(member) === true;
  // Copies, as initial-invite.ts makes them: slices would keep this request's text alive.
  calls.add({
    callId: own(callId),
    inviteKey: undefined,
    client: `${caller.host}:${caller.port}`,
    request: own(req.uri),
    from: own(headerValue(req, "from") ?? ""),
    to: own(headerValue(req, "to") ?? ""),
    route: undefined,
    pool: member.pool,
    server: member.key,
    startedAt: env.clock.now(),
    setupMs: undefined,
    finalCode: undefined,
    release: held && pool !== undefined ? () => pool.release(member) : undefined,
    failures: [],
  });
}

/** The calls table's side of an in-dialog request going on: its call rebuilt after a restart, a BYE noted. */
export function noteInDialog(
  env: SipProxyEnv,
  calls: CallTable,
  req: SipRequest,
  hop: DialogHop & { readonly ok: true },
  upstream: SipPeer,
): void {
  const callId = headerValue(req, "call-id") ?? "";
  const rebuild = req.method !== "BYE" && req.method !== "CANCEL";
  if (rebuild && hop.member !== undefined && calls.get(callId) === undefined)
    rebuildCall(env, calls, req, callId, hop.member, hop.fromServer ? hop.target : upstream);
  if (req.method === "BYE") calls.byeSent(callId, hop.target);
}
