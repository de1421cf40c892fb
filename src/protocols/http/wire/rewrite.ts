/**
 * A proxied head rewritten for its next hop, from the bytes it came in: the fields that
 * belong to one connection are left out (RFC 9110 §7.6.1: Connection, every field it names,
 * and the hop-by-hop fields of RFC 2616 §13.5.1 that old peers send without naming them),
 * every other field line is carried byte for byte, and the proxy's own fields follow: on a
 * request X-Forwarded-For and Forwarded (RFC 7239, forwarded.ts) appended to what earlier
 * proxies wrote, X-Forwarded-Proto, -Host and X-Real-IP of this hop (a client's own
 * X-Real-IP would name any address it likes), Via after any earlier one (§7.6.3); on a
 * response Via. Expect is left out (the proxy answers 100-continue itself).
 */

import { fieldValue, K, STRIDE } from "./fields.ts";
import { forwardedElement, wellFormedForwarded } from "./forwarded.ts";
import type { Head, RequestHead, ResponseHead } from "./head.ts";

export const VIA = "1.1 trunkline";

/** A field-kind set (fields.ts K) as flags, for one lookup per field. */
export function dropSet(kinds: readonly number[]): Uint8Array {
  const out = new Uint8Array(32);
  for (const k of kinds) out[k] = 1;
  return out;
}

/** Hop-by-hop fields (RFC 9110 §7.6.1): never passed on, in a head or a trailer section. */
export const HOP_BY_HOP = [
  K.CONNECTION,
  K.KEEP_ALIVE,
  K.PROXY_CONNECTION,
  K.PROXY_AUTHENTICATE,
  K.PROXY_AUTHORIZATION,
  K.TE,
  K.TRAILER,
  K.TRANSFER_ENCODING,
  K.UPGRADE,
];
/**
 * Left out of a request: hop-by-hop, and the fields this proxy writes anew, Content-Length
 * included (one canonical value from the framing read, never a list a server may read otherwise).
 */
const REQUEST_DROP = dropSet([
  ...HOP_BY_HOP,
  K.CONTENT_LENGTH,
  K.X_FORWARDED_FOR,
  K.VIA,
  K.X_FORWARDED_PROTO,
  K.X_FORWARDED_HOST,
  K.FORWARDED,
  K.X_REAL_IP,
  K.EXPECT,
]);
/** The same for an upgrade, whose Upgrade field must reach the server (RFC 9110 §7.8). */
const UPGRADE_DROP = REQUEST_DROP.slice();
UPGRADE_DROP[K.UPGRADE] = 0;
/** An absolute-form request's Host field is replaced by its target's authority (RFC 9112 §3.2.2). */
const withHost = (d: Uint8Array) => {
  const o = d.slice();
  o[K.HOST] = 1;
  return o;
};
const ABSOLUTE_DROP = withHost(REQUEST_DROP);
const ABSOLUTE_UPGRADE_DROP = withHost(UPGRADE_DROP);
const RESPONSE_DROP = dropSet([...HOP_BY_HOP, K.VIA]);
/** An answer framed by its length gets that length written anew; a bodiless one keeps its own. */
const RESPONSE_DROP_LENGTH = dropSet([...HOP_BY_HOP, K.VIA, K.CONTENT_LENGTH]);

export interface ForwardedInfo {
  /** The client's address as this proxy saw it. */
  readonly client: string;
  readonly proto: "http" | "https";
  /** The Host the client sent ("" when none). */
  readonly host: string;
}

/** The fields whose values earlier hops wrote and this one appends to, by kind: their names. */
const APPENDED: Readonly<Record<number, string>> = {
  [K.X_FORWARDED_FOR]: "x-forwarded-for",
  [K.VIA]: "via",
  [K.FORWARDED]: "forwarded",
};

/**
 * The field lines kept, as text (each with its CRLF), and the values of the fields of
 * `collect` (X-Forwarded-For, Forwarded, Via) in order.
 */
function kept(h: Head, drop: Uint8Array, collect: (kind: number, value: string) => void): string {
  const b = h.bytes;
  const at = h.at;
  const named = h.named;
  let out = "";
  let run = -1;
  for (let f = 0; f < at.length; f += STRIDE) {
    const start = at[f] as number;
    const kind = at[f + 3] as number;
    let dropped = drop[kind] === 1;
    const appended = APPENDED[kind];
    if (appended !== undefined) {
      // Named in Connection, it is the last hop's own (RFC 9110 §7.6.1): not carried on.
      if (named === undefined || !named.includes(appended)) collect(kind, fieldValue(b, at, f));
    } else if (!dropped && named !== undefined && kind === K.OTHER)
      dropped = named.includes(b.toString("latin1", start, at[f + 1] as number).toLowerCase());
    if (dropped) {
      if (run >= 0) out += b.toString("latin1", run, start);
      run = -1;
    } else if (run < 0) run = start;
  }
  if (run >= 0) out += b.toString("latin1", run, (at[at.length - 2] as number) + 2);
  return out;
}

function hasKind(h: Head, kind: number): boolean {
  for (let f = 3; f < h.at.length; f += STRIDE) if (h.at[f] === kind) return true;
  return false;
}

/** This hop's forwarding fields, after what earlier hops wrote (each "" or ending ", "). */
function hopFields(f: ForwardedInfo, xff: string, fwd: string, via: string): string {
  let s = `X-Forwarded-For: ${xff}${f.client}\r\nX-Forwarded-Proto: ${f.proto}\r\n`;
  if (f.host !== "") s += `X-Forwarded-Host: ${f.host}\r\n`;
  s += `Forwarded: ${fwd}${forwardedElement(f.client, f.proto, f.host)}\r\nX-Real-IP: ${f.client}\r\n`;
  return `${s}Via: ${via}${VIA}\r\n`;
}

/** The fields made last for a request no earlier hop had forwarded, and what they were made of. */
let last = { client: "", proto: "", host: "", fields: "" };

/**
 * This hop's forwarding fields for a request no earlier hop forwarded: the requests of one
 * connection, and of one client's connections, mostly name the same client, scheme and host,
 * so the fields made last are used again.
 */
function firstHop(f: ForwardedInfo): string {
  const m = last;
  if (m.fields !== "" && f.client === m.client && f.proto === m.proto && f.host === m.host) return m.fields;
  const fields = hopFields(f, "", "", "");
  last = { client: f.client, proto: f.proto, host: f.host, fields };
  return fields;
}

/** The request head for the server: request line, fields, the forwarding fields, framing, empty line. */
export function forwardRequestHead(h: RequestHead, f: ForwardedInfo, upgrade = false): string {
  let xff = "";
  let fwd = "";
  let via = "";
  const drop = h.absolute
    ? upgrade
      ? ABSOLUTE_UPGRADE_DROP
      : ABSOLUTE_DROP
    : upgrade
      ? UPGRADE_DROP
      : REQUEST_DROP;
  const fields = kept(h, drop, (kind, v) => {
    if (v === "") return;
    if (kind === K.X_FORWARDED_FOR) xff += `${v}, `;
    else if (kind === K.FORWARDED) fwd += wellFormedForwarded(v) ? `${v}, ` : "";
    else via += `${v}, `;
  });
  let s = `${h.method} ${h.target} HTTP/1.1\r\n${h.absolute ? `Host: ${h.host}\r\n` : ""}${fields}`;
  if (h.framing.kind === "length") s += `Content-Length: ${h.framing.length}\r\n`;
  else if (h.framing.kind === "none" && hasKind(h, K.CONTENT_LENGTH)) s += "Content-Length: 0\r\n";
  if (upgrade) s += "Connection: upgrade\r\n";
  s += xff === "" && fwd === "" && via === "" ? firstHop(f) : hopFields(f, xff, fwd, via);
  // Transfer-Encoding is hop-by-hop: a chunked body goes on chunked, as it came, after the
  // codings applied before it (the data stays as coded: dropping "gzip" would misname it).
  if (h.framing.kind === "chunked") s += `Transfer-Encoding: ${h.codings}chunked\r\n`;
  return `${s}\r\n`;
}

/**
 * The response head for the client without its empty line: the status line as HTTP/1.1, the
 * end-to-end fields, Via. The framing and Connection fields are the client connection's to add.
 */
export function clientResponseHead(h: ResponseHead): string {
  let via = "";
  const length = h.framing.kind === "length" ? h.framing.length : -1;
  const fields = kept(h, length >= 0 ? RESPONSE_DROP_LENGTH : RESPONSE_DROP, (kind, v) => {
    if (kind === K.VIA && v !== "") via += `${v}, `;
  });
  const b = h.bytes;
  // The status line after "HTTP/1.x ": code and reason as the server wrote them.
  const status = b.toString("latin1", h.start + 9, h.lineEnd);
  const cl = length >= 0 ? `Content-Length: ${length}\r\n` : "";
  return `HTTP/1.1 ${status}\r\n${fields}${cl}Via: ${via}${VIA}\r\n`;
}
