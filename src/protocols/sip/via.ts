/**
 * One Via value (RFC 3261 §20.42, RFC 3581 rport): `SIP/2.0/UDP host:port;branch=z9hG4bK...`.
 * A proxy matches responses by its branch and sends them back to received/rport.
 */

import { parseParams, type SipParam } from "./params.ts";
import { type Recent, recent } from "./recent.ts";
import { type SipError, sipError } from "./types.ts";

export interface Via {
  /** `SIP/2.0`, as the protocol name and version are the only ones we accept. */
  readonly protocol: string;
  /** Upper case: `UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`. */
  readonly transport: string;
  /** A host name, an IPv4 address, or an IPv6 reference with its brackets (`[::1]`). */
  readonly host: string;
  readonly port: number | undefined;
  /** Every parameter, in order, as written. */
  readonly params: readonly SipParam[];
  readonly branch: string | undefined;
  readonly received: string | undefined;
  /** Present (RFC 3581): without a value in a request, with the source port once filled. */
  readonly rport: { readonly port: number | undefined } | undefined;
}

// sent-protocol: name LWS? "/" LWS? version LWS? "/" LWS? transport, then LWS sent-by.
const SENT_PROTOCOL_RE =
  /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+/;
// sent-by: host [ ":" port ]; the host is a name, IPv4, or a bracketed IPv6 reference.
const PORT_RE = /^\d{1,5}$/;
const SENT_BY_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*(\d{1,5}))?[ \t]*/;

export type ViaResult =
  | { readonly ok: true; readonly via: Via }
  | { readonly ok: false; readonly error: SipError };

/**
 * RFC 3261 §20.42 via-parm. A proxy reads the same Via value several times per message
 * (RFC 3581 stamping, the response target, loop and transaction keys): the result is shared
 * (recent.ts), never modify it.
 */
export const parseVia: Recent<ViaResult> = recent(parseViaText);

/** parseVia without the cache (for the tests that check what is remembered). */
export function parseViaText(value: string): ViaResult {
  const text = value.trim();
  const proto = SENT_PROTOCOL_RE.exec(text);
  if (!proto) return sipError("bad_via", `"${text.slice(0, 80)}" does not start with SIP/2.0/transport`);
  const [whole, name = "", version = "", transport = ""] = proto;
  if (name.toUpperCase() !== "SIP" || version !== "2.0")
    return sipError("bad_via", `Via protocol ${name}/${version} is not SIP/2.0`);
  const rest = text.slice(whole.length);
  const sentBy = SENT_BY_RE.exec(rest);
  if (!sentBy) return sipError("bad_via", `Via "${text.slice(0, 80)}" has no host`);
  const [by, host = "", portText] = sentBy;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535))
    return sipError("bad_via", `Via port ${portText} is not 1-65535`);
  const params = parseParams(rest.slice(by.length));
  if ("code" in params) return sipError("bad_via", `Via parameters: ${params.message}`);
  // The first of each (names compare case-insensitively), in one pass.
  let branch: SipParam | undefined;
  let received: SipParam | undefined;
  let rportParam: SipParam | undefined;
  for (const p of params) {
    const n = p[0].length === 6 || p[0].length === 5 || p[0].length === 8 ? p[0].toLowerCase() : "";
    if (n === "branch") branch ??= p;
    else if (n === "received") received ??= p;
    else if (n === "rport") rportParam ??= p;
  }
  // RFC 3261 §20.42: branch and received always carry a value.
  if (branch !== undefined && branch[1] === undefined) return sipError("bad_via", "Via branch has no value");
  if (received !== undefined && received[1] === undefined)
    return sipError("bad_via", "Via received has no value");
  let rport: Via["rport"];
  if (rportParam !== undefined) {
    const r = rportParam[1];
    if (r !== undefined && (!PORT_RE.test(r) || Number(r) < 1 || Number(r) > 65535))
      return sipError("bad_via", `Via rport=${r} is not a port`);
    rport = { port: r === undefined ? undefined : Number(r) };
  }
  return {
    ok: true,
    via: {
      protocol: "SIP/2.0",
      transport: transport.toUpperCase(),
      host,
      port,
      params,
      branch: branch?.[1],
      received: received?.[1],
      rport,
    },
  };
}
