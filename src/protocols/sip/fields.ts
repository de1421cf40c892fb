/**
 * The values a proxy reads besides Via: CSeq (RFC 3261 §20.16), and the addresses of From,
 * To, Contact, Route and Record-Route (§20.10: name-addr or bare addr-spec, then parameters).
 */

import { headerValue } from "./headers.ts";
import { paramValue, parseParams, type SipParam } from "./params.ts";
import { recent } from "./recent.ts";
import { type SipError, type SipMessage, sipError } from "./types.ts";

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export type CSeqResult =
  | { readonly ok: true; readonly cseq: CSeq }
  | { readonly ok: false; readonly error: SipError };

/**
 * `1 INVITE`, `2 BYE`: a handful of values carried by every call, so through recent.ts. The
 * result is shared: never modify it.
 */
export const parseCSeq: (value: string) => CSeqResult = recent(parseCSeqText);

function parseCSeqText(value: string): CSeqResult {
  const m = /^[ \t]*(\d{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*$/.exec(value);
  const seq = Number(m?.[1]);
  if (!m || seq > 0xffffffff) return sipError("bad_cseq", `CSeq "${value}" is not "number method"`);
  return { ok: true, cseq: { seq, method: m[2] ?? "" } };
}

export interface NameAddr {
  /** The display name, unquoted; undefined when there is none. */
  readonly displayName: string | undefined;
  /** The URI: what is inside `<...>`, or the bare addr-spec up to its first `;`. */
  readonly uri: string;
  /** The header parameters after the URI (`tag`, `expires`, ...), as written. */
  readonly params: readonly SipParam[];
  readonly tag: string | undefined;
}

/**
 * Reads `"Name" <sip:u@h;lr>;tag=x`, `Name <sip:u@h>`, `<sip:u@h>` and the bare `sip:u@h;tag=x`
 * (where, RFC 3261 §20.10, every `;` parameter belongs to the header, not the URI).
 */
export type NameAddrResult =
  | { readonly ok: true; readonly addr: NameAddr }
  | { readonly ok: false; readonly error: SipError };

/** The result is shared (recent.ts): never modify it. */
export const parseNameAddr: (value: string) => NameAddrResult = recent(parseNameAddrText);

function parseNameAddrText(value: string): NameAddrResult {
  const text = value.trim();
  let displayName: string | undefined;
  let uri: string;
  let rest: string;
  const open = angleOpen(text);
  if (open === undefined)
    return sipError("bad_address", `unterminated quoted name in "${text.slice(0, 80)}"`);
  if (open >= 0) {
    const close = text.indexOf(">", open);
    if (close < 0) return sipError("bad_address", `no ">" in "${text.slice(0, 80)}"`);
    displayName = unquote(text.slice(0, open).trim());
    uri = text.slice(open + 1, close).trim();
    rest = text.slice(close + 1);
  } else {
    const semi = text.indexOf(";");
    uri = semi < 0 ? text : text.slice(0, semi);
    rest = semi < 0 ? "" : text.slice(semi);
    if (/[ \t"]/.test(uri)) return sipError("bad_address", `"${text.slice(0, 80)}" is no address`);
  }
  if (uri === "") return sipError("bad_address", `"${text.slice(0, 80)}" has no URI`);
  const params = parseParams(rest);
  if ("code" in params) return sipError("bad_address", `address parameters: ${params.message}`);
  return { ok: true, addr: { displayName, uri, params, tag: paramValue(params, "tag") } };
}

/** Where the `<` of a name-addr is (-1 when bare), skipping a quoted display name. */
function angleOpen(text: string): number | undefined {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x3c) return i;
  }
  return quoted ? undefined : -1;
}

function unquote(name: string): string | undefined {
  if (name === "") return undefined;
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"'))
    return name.slice(1, -1).replace(/\\(.)/g, "$1");
  return name;
}

/** The tag of a From or To value; undefined when it has none or is not an address. */
export function tagOf(value: string): string | undefined {
  const r = parseNameAddr(value);
  return r.ok ? r.addr.tag : undefined;
}

export function fromTag(m: SipMessage): string | undefined {
  const v = headerValue(m, "from");
  return v === undefined ? undefined : tagOf(v);
}

export function toTag(m: SipMessage): string | undefined {
  const v = headerValue(m, "to");
  return v === undefined ? undefined : tagOf(v);
}
