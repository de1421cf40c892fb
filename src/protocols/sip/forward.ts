/**
 * What the proxy does to every message it passes on, whatever the transaction: RFC 3581 on
 * the sender's Via, our own Via on requests (§16.6 step 8), where a response goes back to
 * (§18.2.2), and the Record-Route token (rr-token.ts) in and out of Route URIs.
 */

import { branchParts, loopCheck, type Seal, statelessBranch } from "./branch.ts";
import { forwardEdits, withHeaders } from "./edit.ts";
import { parseNameAddr } from "./fields.ts";
import { headerValues, splitTopLevel } from "./headers.ts";
import type { SipParam } from "./params.ts";
import { RECENT_MAX_KEY } from "./recent.ts";
import type { ProxyAddress } from "./route.ts";
import type { SipPeer, SipTransportName } from "./transport.ts";
import type { SipMessage, SipRequest } from "./types.ts";
import { parseUri, sameHost, uriParam } from "./uri.ts";
import { parseVia } from "./via.ts";

/**
 * RFC 3581 §4 (and RFC 3261 §18.2.1) on the top Via of a request: `received=` with the
 * source address when it differs from sent-by or when the Via has `rport` (§4: even when
 * equal), and `rport=` set to the source port whenever the Via has one. A `received` or an
 * `rport` value the client wrote itself is replaced, never trusted: a forged one would send
 * the answers (and their retransmissions) to a victim of the sender's choosing. The message
 * comes back unchanged when there is nothing to change or the Via cannot be read (the caller
 * has already refused a request without a Via).
 */
export function stampTopVia(m: SipRequest, source: SipPeer): SipRequest;
export function stampTopVia(m: SipMessage, source: SipPeer): SipMessage;
export function stampTopVia(m: SipMessage, source: SipPeer): SipMessage {
  const hs = m.headers;
  let at = 0;
  while (at < hs.length && hs[at]?.name !== "via") at++;
  const line = hs[at];
  if (line === undefined) return m;
  // One value on the line (the common case) is the line's value itself (headers.ts).
  const values = splitTopLevel(line.value);
  const top = values[0];
  if (top === undefined) return m;
  const v = parseVia(top);
  if (!v.ok) return m;
  const via = v.via;
  // On a stream the answer must go back on the connection it came on (§18.2.2), whose port
  // is the source port, not sent-by's: rport is filled even when not asked for (OpenSIPS'
  // force_rport), so that the Via alone says where the response goes, statelessly.
  const forceRport = source.transport !== "udp" && via.rport === undefined;
  const hasRport = via.rport !== undefined || forceRport;
  const wantReceived = hasRport || via.received !== undefined || !sameHost(via.host, source.host);
  const rportRight = via.rport?.port === source.port;
  const receivedRight = via.received !== undefined && sameHost(via.received, source.host);
  if ((!hasRport || rportRight) && (!wantReceived || receivedRight)) return m;
  const port = String(source.port);
  const params: SipParam[] = [];
  let text = "";
  for (const p of via.params) {
    const n = p[0];
    const lower = n.length === 5 || n.length === 8 ? n.toLowerCase() : "";
    if (lower === "received") continue;
    const kept: SipParam = lower === "rport" ? [n, port] : p;
    params.push(kept);
    text += kept[1] === undefined ? `;${n}` : `;${n}=${kept[1]}`;
  }
  if (forceRport) {
    params.push(["rport", port]);
    text += `;rport=${port}`;
  }
  if (wantReceived) {
    params.push(["received", source.host]);
    text += `;received=${source.host}`;
  }
  const sentBy = via.port === undefined ? via.host : `${via.host}:${via.port}`;
  const value = `SIP/2.0/${via.transport} ${sentBy}${text}`;
  // Read next for the response's target, the branch, the seal: its parse is known here. Not
  // for a top Via too long for the cache: its parse was not made from a copy, and its
  // strings would keep this datagram's text alive (recent.ts).
  if (top.length <= RECENT_MAX_KEY)
    parseVia.remember(value, {
      ok: true,
      via: {
        protocol: via.protocol,
        transport: via.transport,
        host: via.host,
        port: via.port,
        params,
        branch: via.branch,
        received: wantReceived ? source.host : undefined,
        rport: hasRport ? { port: source.port } : undefined,
      },
    });
  const headers = hs.slice();
  values[0] = value;
  headers[at] = {
    name: line.name,
    rawName: line.rawName,
    value: values.length === 1 ? value : values.join(", "),
  };
  return withHeaders(m, headers);
}

/**
 * Whether the top Via names another transport than the one the request came on.
 * A client writes the transport it sends on (RFC 3261 §18.1.1); a datagram whose Via says
 * TCP is forged or broken, and answering it as its Via says would open a connection to an
 * address the sender chose.
 */
export function viaTransportMismatch(m: SipMessage, source: SipPeer): boolean {
  const line = m.headers.find((h) => h.name === "via");
  const top = line === undefined ? undefined : splitTopLevel(line.value)[0];
  if (top === undefined) return false;
  const v = parseVia(top);
  if (!v.ok) return false;
  // A transport we do not speak (SCTP, WS) is no less a mismatch: answered "as its Via says",
  // it would go over one of ours to a port the sender chose.
  return transportNamed(v.via.transport) !== source.transport;
}

/**
 * Where a response to the sender of this Via goes (RFC 3261 §18.2.2, RFC 3581 §4): received
 * (else sent-by) host, rport (else the sent-by port, else 5060), over the Via's transport
 * (`fallback` when it names one we do not speak).
 */
export function viaTarget(viaValue: string, fallback: SipTransportName): SipPeer | undefined {
  const v = parseVia(viaValue);
  if (!v.ok) return undefined;
  const transport = transportNamed(v.via.transport) ?? fallback;
  const raw = v.via.received ?? v.via.host;
  const host = raw.startsWith("[") ? raw.slice(1, -1) : raw;
  const port = v.via.rport?.port ?? v.via.port ?? (v.via.transport === "TLS" ? 5061 : 5060);
  return { transport, host, port };
}

/** Whether a Via value names us as its sent-by: a response carrying it on top is ours to route. */
export function isOurVia(viaValue: string, us: { host: string; port: number }): boolean {
  const v = parseVia(viaValue);
  return v.ok && sameHost(v.via.host, us.host) && (v.via.port ?? 5060) === us.port;
}

/** Our Via (§16.6 step 8, with `rport` so a server behind any NAT answers to our socket). */
export function ourVia(us: { host: string; port: number; transport: string }, branch: string): string {
  const host = us.host.includes(":") && !us.host.startsWith("[") ? `[${us.host}]` : us.host;
  return `SIP/2.0/${us.transport.toUpperCase()} ${host}:${us.port};branch=${branch};rport`;
}

/** The `tl` parameter of a Route or Record-Route value's URI, or undefined. */
export function routeToken(routeValue: string, param: string): string | undefined {
  const a = parseNameAddr(routeValue);
  if (!a.ok) return undefined;
  const u = parseUri(a.addr.uri);
  return u.ok ? uriParam(u.uri, param) : undefined;
}

/** The next hop a Request-URI or Route URI names (host as an IP or name, no brackets). */
export function uriTarget(uriText: string, fallback: SipTransportName): SipPeer | undefined {
  const u = parseUri(uriText);
  if (!u.ok) return undefined;
  const transport =
    transportNamed(uriParam(u.uri, "transport") ?? "") ?? (u.uri.scheme === "sips" ? "tls" : fallback);
  const maddr = uriParam(u.uri, "maddr");
  const raw = maddr ?? u.uri.host;
  const host = raw.startsWith("[") ? raw.slice(1, -1) : raw;
  return { transport, host, port: u.uri.port ?? (u.uri.scheme === "sips" ? 5061 : 5060) };
}

/** udp, tcp or tls from a Via's or URI's transport (any case); undefined for others (sctp, ws). */
export function transportNamed(name: string): SipTransportName | undefined {
  const t = name.toLowerCase();
  return t === "udp" || t === "tcp" || t === "tls" ? t : undefined;
}

/** The transport a Route value's URI names (its `transport` param), if one we speak. */
export function routeTransport(routeValue: string): SipTransportName | undefined {
  const a = parseNameAddr(routeValue);
  if (!a.ok) return undefined;
  const u = parseUri(a.addr.uri);
  return u.ok ? transportNamed(uriParam(u.uri, "transport") ?? "") : undefined;
}

export type Forwarded =
  | { readonly ok: true; readonly message: SipMessage }
  | { readonly ok: false; readonly status: number; readonly drop?: undefined }
  | { readonly ok: false; readonly status?: undefined; readonly drop: string };

/**
 * §16.6 for a request forwarded statelessly (§16.11): loop check with a branch derived from
 * the request (400 when its parts cannot be read, 482 on a loop), Max-Forwards down by one
 * (483 at zero), our Record-Route values, our Via for `transport` on top, its branch sealed
 * with `seal` (via-seal.ts) when given.
 */
export function statelessForward(
  us: ProxyAddress,
  original: SipRequest,
  routed: SipRequest,
  transport: SipTransportName,
  rr: readonly string[],
  seal?: Seal,
): Forwarded {
  const parts = branchParts(routed);
  if (!parts.ok) return { ok: false, status: 400 };
  const branch = statelessBranch(parts.parts, seal);
  if (loopCheck(headerValues(original, "via"), us, branch)) return { ok: false, status: 482 };
  const f = forwardEdits(routed, ourVia({ ...us, transport }, branch), rr, true);
  if (f.ok) return { ok: true, message: f.message };
  return f.error.code === "bad_value" ? { ok: false, drop: "bad_via" } : { ok: false, status: 483 };
}
