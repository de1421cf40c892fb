/**
 * Header names and values: compact forms, case, and the values several of which may share
 * one line (`Via: a, b`, as SIPp writes it). Pure functions over text.
 */

import { own } from "./recent.ts";
import type { SipHeader, SipMessage } from "./types.ts";

/**
 * Compact forms (RFC 3261 §7.3.3 and §20; RFC 3265 o/u, 3515 r, 3892 b, 4028 x, 3841 a/j/d,
 * 4474 y/n). A Map, not an object: `constructor` is no header name.
 */
const COMPACT: ReadonlyMap<string, string> = new Map([
  ["i", "call-id"],
  ["m", "contact"],
  ["e", "content-encoding"],
  ["l", "content-length"],
  ["c", "content-type"],
  ["f", "from"],
  ["s", "subject"],
  ["k", "supported"],
  ["t", "to"],
  ["v", "via"],
  ["o", "event"],
  ["u", "allow-events"],
  ["r", "refer-to"],
  ["b", "referred-by"],
  ["x", "session-expires"],
  ["a", "accept-contact"],
  ["j", "reject-contact"],
  ["d", "request-disposition"],
  ["y", "identity"],
  ["n", "identity-info"],
]);

/**
 * Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: such a header may be
 * written as several lines or as one). Not From, To, Call-ID, CSeq, Date (`Sat, 13 Nov`), nor
 * the authentication headers (`Digest a="x", b="y"` is one value).
 */
const MULTI_VALUE: ReadonlySet<string> = new Set([
  "via",
  "route",
  "record-route",
  "contact",
  "allow",
  "supported",
  "require",
  "proxy-require",
  "unsupported",
  "accept",
  "accept-encoding",
  "accept-language",
  "allow-events",
  "content-encoding",
  "content-language",
  "in-reply-to",
  "path",
  "service-route",
  "alert-info",
  "call-info",
  "error-info",
  "warning",
]);

/** Spellings that are not Title-Case, for headers this library writes itself. */
const DISPLAY: ReadonlyMap<string, string> = new Map([
  ["call-id", "Call-ID"],
  ["cseq", "CSeq"],
  ["www-authenticate", "WWW-Authenticate"],
]);

/** A token (RFC 3261 §25.1): header names and methods. */
export const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/**
 * Names as written to their canonical form, remembered: a message's dozen names are the same
 * few spellings every time, so this is a lookup, not a new lower-case string per header.
 * Emptied when full (a peer inventing names costs a toLowerCase each, never memory).
 */
const canonical = new Map<string, string>();
const CANONICAL_MAX = 512;

/** The canonical name of a header: lower case, compact form expanded. */
export function canonicalName(name: string): string {
  const common = commonSpelling(name);
  if (common !== undefined) return common;
  const known = canonical.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  const c = COMPACT.get(lower) ?? lower;
  if (canonical.size >= CANONICAL_MAX) canonical.clear();
  // A copy as the key: the name as read is a slice of its whole message's text.
  canonical.set(own(name), own(c));
  return c;
}

/**
 * The names every SIP message carries, as UAs spell them: compared as they are, where the
 * table's lookup would first hash each name read (a new string per header line).
 */
function commonSpelling(name: string): string | undefined {
  switch (name.length) {
    case 2:
      return name === "To" ? "to" : undefined;
    case 3:
      return name === "Via" ? "via" : undefined;
    case 4:
      return name === "From" ? "from" : name === "CSeq" ? "cseq" : undefined;
    case 5:
      return name === "Route" ? "route" : undefined;
    case 7:
      return name === "Call-ID" ? "call-id" : name === "Contact" ? "contact" : undefined;
    case 12:
      if (name === "Max-Forwards") return "max-forwards";
      return name === "Record-Route" ? "record-route" : name === "Content-Type" ? "content-type" : undefined;
    case 14:
      return name === "Content-Length" ? "content-length" : undefined;
    default:
      return undefined;
  }
}

const written = new Map<string, string>();

/** How to write a canonical name: `max-forwards` → `Max-Forwards`, `call-id` → `Call-ID`. */
export function displayName(canonical: string): string {
  const known = DISPLAY.get(canonical) ?? written.get(canonical);
  if (known !== undefined) return known;
  const name = canonical.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
  // The names this library writes are few (Via, Record-Route, Max-Forwards...): remembered.
  if (written.size < 64) written.set(canonical, name);
  return name;
}

export function isMultiValue(canonical: string): boolean {
  return MULTI_VALUE.has(canonical);
}

/**
 * Where the next top-level comma is from `from` (a comma inside a quoted string, with its `\`
 * escapes, or inside `<...>` does not count), or -1. At a top-level comma no quote or angle
 * is open, so a scan may start again after it.
 */
function topLevelComma(value: string, from: number): number {
  let quoted = false;
  let angle = false;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) return i;
  }
  return -1;
}

/**
 * Splits a value at its top-level commas (topLevelComma). Each part is trimmed; empty parts
 * are dropped. One pass over the text.
 */
export function splitTopLevel(value: string): string[] {
  const out: string[] = [];
  // One value (most lines): the same string, not a copy, so the parse caches find it by
  // identity (its hash is already computed) and nothing is scanned twice.
  if (value.indexOf(",") < 0) {
    push(out, value);
    return out;
  }
  let from = 0;
  for (;;) {
    const comma = topLevelComma(value, from);
    push(out, value.slice(from, comma < 0 ? value.length : comma));
    if (comma < 0) return out;
    from = comma + 1;
  }
}

function push(out: string[], part: string): void {
  const t = part.trim();
  if (t !== "") out.push(t);
}

/**
 * Every value of a header, in order, by any spelling of its name (`v`, `VIA`): the values of
 * a list header are split at their top-level commas; any other header gives one value a line.
 */
export function headerValues(m: Pick<SipMessage, "headers">, name: string): string[] {
  const wanted = canonicalName(name);
  const multi = isMultiValue(wanted);
  const out: string[] = [];
  for (const h of m.headers) {
    if (h.name !== wanted) continue;
    if (multi) out.push(...splitTopLevel(h.value));
    else out.push(h.value);
  }
  return out;
}

/**
 * The first value of a header (the topmost Via for `via`), or undefined: headerValues(m,
 * name)[0] without the list, as a proxy asks for the top Via, Call-ID or CSeq several times
 * a message.
 */
export function headerValue(m: Pick<SipMessage, "headers">, name: string): string | undefined {
  const wanted = canonicalName(name);
  const multi = isMultiValue(wanted);
  for (const h of m.headers) {
    if (h.name !== wanted) continue;
    if (!multi) return h.value;
    const first = firstTopLevel(h.value);
    if (first !== undefined) return first;
  }
  return undefined;
}

/** splitTopLevel(value)[0], without splitting the rest. */
export function firstTopLevel(value: string): string | undefined {
  if (value.indexOf(",") < 0) {
    const t = value.trim();
    return t === "" ? undefined : t;
  }
  let from = 0;
  for (;;) {
    const comma = topLevelComma(value, from);
    const t = value.slice(from, comma < 0 ? value.length : comma).trim();
    if (t !== "") return t;
    if (comma < 0) return undefined;
    from = comma + 1;
  }
}

/** A header line as this library writes it: canonical name, displayed spelling. */
export function makeHeader(canonical: string, value: string): SipHeader {
  return { name: canonical, rawName: displayName(canonical), value };
}
