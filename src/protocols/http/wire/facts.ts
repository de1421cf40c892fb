/**
 * What the fields that frame and route a message say (RFC 9112 §6, RFC 9110 §7.2, §7.6.1),
 * read from a head's scanned fields (fields.ts): the body's framing, Connection's options,
 * Upgrade, Host, Expect. Strict where two parties could read one message two ways.
 */

import { fieldValue, K, STRIDE, trimOws } from "./fields.ts";

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  /** Until the connection closes (responses only). */
  | { readonly kind: "close" };

export const NO_BODY: Framing = Object.freeze({ kind: "none" });
export const CHUNKED: Framing = Object.freeze({ kind: "chunked" });
export const CLOSE: Framing = Object.freeze({ kind: "close" });

/** A head that cannot be read: the status to answer (a request) and why. */
export interface HeadError {
  readonly error: 400 | 431 | 501 | 505;
  readonly reason: string;
}

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};

/** The whole answer to a request refused before it was read (or read in time): no body, then close. */
export function errorAnswer(code: number): string {
  return `HTTP/1.1 ${code} ${REASONS[code] ?? "Bad Request"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

export const headError = (error: HeadError["error"], reason: string): HeadError => ({ error, reason });
const err = headError;

/**
 * A Host value that cannot be read as more than a host and port: an IPv6 literal or a name
 * with no space, list comma, path, query, fragment, user part or colon, then a port of digits
 * if any (RFC 3986 §3.2). Other odd bytes pass: they route nowhere, and every page escapes
 * what it shows of them.
 */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s,/\\?#@:[\]]*)(?::[0-9]*)?$/;

/**
 * An absolute-form request target (RFC 9112 §3.2.2) as its authority and its origin-form
 * path (`/` when it has none); undefined when the authority is not a valid Host value.
 */
export function absoluteForm(target: string): { authority: string; path: string } | undefined {
  const from = target.indexOf("//") + 2;
  let end = from;
  while (end < target.length && target[end] !== "/" && target[end] !== "?") end++;
  const authority = target.slice(from, end);
  if (authority === "" || !HOST_VALUE.test(authority)) return undefined;
  const rest = target.slice(end);
  return { authority, path: rest.startsWith("/") ? rest : `/${rest}` };
}

/** What the framing and routing fields say. */
export interface Facts {
  framing: Framing | undefined;
  close: boolean;
  keepAlive: boolean;
  upgradeToken: boolean;
  upgrade: boolean;
  host: string | undefined;
  hosts: number;
  expectContinue: boolean;
  /** Transfer-Encoding is present but its last coding is not chunked. */
  teNotChunked: boolean;
  /** The codings applied before the final chunked, each followed by ", " ("" for chunked alone). */
  codings: string;
  /** One of them is not a registered transfer coding (RFC 9112 §7). */
  codingUnknown: boolean;
  named: string[] | undefined;
}

/** One Facts for every parse: a parse runs to its end before the next begins. */
const scratch: Facts = {
  framing: undefined,
  close: false,
  keepAlive: false,
  upgradeToken: false,
  upgrade: false,
  host: undefined,
  hosts: 0,
  expectContinue: false,
  teNotChunked: false,
  codings: "",
  codingUnknown: false,
  named: undefined,
};

/**
 * The registered transfer codings (RFC 9112 §7, IANA "HTTP Transfer Coding Registry") that may
 * come before chunked: the proxy frames by chunked and passes them on, as data it need not
 * decode. "identity" is no longer one (RFC 7230 removed it); "trailers" is reserved.
 */
const PASSED_CODINGS = new Set(["gzip", "deflate", "compress", "x-gzip", "x-compress"]);

/** A Content-Length value: digits, or a list of equal ones (RFC 9110 §8.6); undefined when bad. */
function contentLength(value: string, prior: string | undefined): string | undefined {
  let cl = prior;
  for (const v of value.includes(",") ? value.split(",") : [value]) {
    const t = trimOws(v);
    if (!/^\d{1,15}$/.test(t) || (cl !== undefined && cl !== t)) return undefined;
    cl = t;
  }
  return cl;
}

/** Whether the field's value is `token` (lower case ASCII) with only OWS around it, case-insensitively. */
function valueIs(b: Buffer, at: readonly number[], f: number, token: string): boolean {
  let i = (at[f + 1] as number) + 1;
  let e = at[f + 2] as number;
  while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
  while (e > i && (b[e - 1] === 0x20 || b[e - 1] === 0x09)) e--;
  if (e - i !== token.length) return false;
  for (let k = 0; k < token.length; k++)
    if (((b[i + k] as number) | 0x20) !== token.charCodeAt(k)) return false;
  return true;
}

/**
 * A value of 1 to 15 digits with only OWS around them, as its number (-1 when it is not one):
 * a Content-Length read without making a string. `span` gets where the digits are.
 */
function digitsOf(b: Buffer, at: readonly number[], f: number, span: number[]): number {
  let i = (at[f + 1] as number) + 1;
  const e = at[f + 2] as number;
  while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
  const from = i;
  let n = 0;
  for (; i < e; i++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  const to = i;
  while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
  if (i !== e || to === from || to - from > 15) return -1;
  span[0] = from;
  span[1] = to;
  return n;
}

/** Where digitsOf found the digits; one for every parse, as `scratch`: a parse runs to its end before the next. */
const span = [0, 0];

export function facts(b: Buffer, at: readonly number[]): Facts | HeadError {
  const o = scratch;
  o.framing = undefined;
  o.close = false;
  o.keepAlive = false;
  o.upgradeToken = false;
  o.upgrade = false;
  o.host = undefined;
  o.hosts = 0;
  o.expectContinue = false;
  o.teNotChunked = false;
  o.codings = "";
  o.codingUnknown = false;
  o.named = undefined;
  let cl: string | undefined;
  // The first Content-Length read as digits (-1: none, or read as text into `cl`).
  let length = -1;
  let te: string | undefined;
  for (let f = 0; f < at.length; f += STRIDE) {
    const kind = at[f + 3];
    if (kind === K.OTHER || kind === undefined || kind > K.EXPECT) continue;
    // The usual values, read from the bytes: one Content-Length of digits, Connection: keep-alive or close.
    if (kind === K.CONTENT_LENGTH && cl === undefined && length < 0) {
      length = digitsOf(b, at, f, span);
      if (length >= 0) continue;
    } else if (kind === K.CONNECTION) {
      if (valueIs(b, at, f, "keep-alive")) {
        o.keepAlive = true;
        continue;
      }
      if (valueIs(b, at, f, "close")) {
        o.close = true;
        continue;
      }
    }
    if (kind === K.CONTENT_LENGTH && length >= 0) {
      // A second Content-Length: the first one's text, for the comparison.
      cl = b.toString("latin1", span[0], span[1]);
      length = -1;
    }
    const value = fieldValue(b, at, f);
    if (kind === K.CONTENT_LENGTH) {
      const next = contentLength(value, cl);
      if (next === undefined)
        return err(
          400,
          /^[\d\s,]*$/.test(value) && cl !== undefined
            ? "two different Content-Length values"
            : `bad Content-Length "${value.slice(0, 40)}"`,
        );
      cl = next;
    } else if (kind === K.TRANSFER_ENCODING) te = te === undefined ? value : `${te}, ${value}`;
    else if (kind === K.CONNECTION) {
      for (const v of value.includes(",") ? value.split(",") : [value]) {
        const t = trimOws(v).toLowerCase();
        if (t === "close") o.close = true;
        else if (t === "keep-alive") o.keepAlive = true;
        else if (t === "upgrade") o.upgradeToken = true;
        else if (t !== "") {
          o.named ??= [];
          o.named.push(t);
        }
      }
    } else if (kind === K.UPGRADE) o.upgrade = true;
    else if (kind === K.HOST) {
      if (!HOST_VALUE.test(value)) return err(400, "bad Host value");
      o.hosts++;
      o.host ??= value;
    } else if (kind === K.EXPECT) o.expectContinue = value.toLowerCase() === "100-continue";
  }
  if (te !== undefined) {
    if (cl !== undefined || length >= 0) return err(400, "both Transfer-Encoding and Content-Length");
    const codings = te
      .split(",")
      .map((c) => trimOws(c).toLowerCase())
      .filter((c) => c !== "");
    const chunked = codings.filter((c) => c === "chunked").length;
    if (codings.at(-1) === "chunked" && chunked === 1) {
      o.framing = CHUNKED;
      for (let i = 0; i < codings.length - 1; i++) {
        const c = codings[i] as string;
        if (!PASSED_CODINGS.has(c)) o.codingUnknown = true;
        o.codings += `${c}, `;
      }
    } else if (chunked > 0) return err(400, "chunked applied twice or not last");
    else o.teNotChunked = true;
  } else if (length > 0) o.framing = { kind: "length", length };
  else if (length === 0) o.framing = NO_BODY;
  else if (cl !== undefined) o.framing = Number(cl) === 0 ? NO_BODY : { kind: "length", length: Number(cl) };
  return o;
}
