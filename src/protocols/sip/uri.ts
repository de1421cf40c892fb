/**
 * SIP and SIPS URIs (RFC 3261 §19.1.1): `sip:user:password@host:port;params?headers`. A proxy
 * reads them to decide whether a Request-URI or a Route value is itself (§16.4) and writes
 * its own for Record-Route. Parts are kept as written (escapes included), so formatUri gives
 * the same text back; comparisons go through the helpers, which know what is case-insensitive.
 */

import { isIPv6 } from "node:net";
import { hasParam, paramValue, type SipParam } from "./params.ts";
import { recent } from "./recent.ts";
import { type SipError, sipError } from "./types.ts";

/** `?name=value` after the URI (RFC 3261 §19.1.1 headers), as written. */
export type UriHeader = readonly [name: string, value: string];

export interface SipUri {
  /** Lower case whatever was written (the scheme is case-insensitive, §19.1.4). */
  readonly scheme: "sip" | "sips";
  /** The user part as written, `%xx` escapes kept; undefined when there is no `@`. */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** A host name, an IPv4 address, or an IPv6 reference with its brackets (`[::1]`). */
  readonly host: string;
  readonly port: number | undefined;
  /** The `;` parameters in order, names and values as written. */
  readonly params: readonly SipParam[];
  readonly headers: readonly UriHeader[];
}

export type UriResult =
  | { readonly ok: true; readonly uri: SipUri }
  | { readonly ok: false; readonly error: SipError };

/** Longer than any header value the message parser lets through (SIP_LIMITS). */
export const MAX_URI_LENGTH = 8 * 1024;

// Character sets of RFC 3261 §25.1. `%` is allowed only as the start of an escape.
const ESC = "%[0-9A-Fa-f]{2}";
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
/**
 * user: unreserved, escaped, and `& = + $ , ; ? /`; `?` is left out (it would start the
 * headers) and `#` is let in: phones send feature codes like `*67#` unescaped.
 */
const USER_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,;/#]|${ESC})+$`);
const PASSWORD_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESC})*$`);
const PARAM_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESC})+$`);
const HNAME_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESC})+$`);
/** hvalue may be empty; `@` is let in (`?Replaces=id@host` is common unescaped). */
const HVALUE_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$@]|${ESC})*$`);
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
/** Whitespace and control bytes: never inside a URI (a name-addr's `<...>` is trimmed first). */
const SPACE_RE = /[\x00-\x20\x7f]/;

/** RFC 3261 §19.1.1 SIP-URI / SIPS-URI. The result is shared (recent.ts): never modify it. */
export const parseUri: (text: string) => UriResult = recent(parseUriText);

function parseUriText(text: string): UriResult {
  if (text.length > MAX_URI_LENGTH) return sipError("bad_uri", `URI longer than ${MAX_URI_LENGTH} chars`);
  if (SPACE_RE.test(text)) return sipError("bad_uri", "URI holds whitespace or control bytes");
  const colon = text.indexOf(":");
  const scheme = text.slice(0, Math.max(colon, 0)).toLowerCase();
  if (scheme !== "sip" && scheme !== "sips") {
    if (colon > 0 && SCHEME_RE.test(scheme))
      return sipError("unsupported_scheme", `URI scheme ${scheme} is not sip or sips`);
    return sipError("bad_uri", `"${text.slice(0, 80)}" has no scheme`);
  }
  const rest = text.slice(colon + 1);
  const q = rest.indexOf("?");
  const main = q < 0 ? rest : rest.slice(0, q);
  const headers = q < 0 ? [] : parseUriHeaders(rest.slice(q + 1));
  if ("code" in headers) return { ok: false, error: headers };
  // No `@` can be in a host, port or parameter, and user and password escape theirs.
  const at = main.indexOf("@");
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const info = main.slice(0, at);
    const pc = info.indexOf(":");
    user = pc < 0 ? info : info.slice(0, pc);
    password = pc < 0 ? undefined : info.slice(pc + 1);
    if (!USER_RE.test(user)) return sipError("bad_uri", `bad user part "${user.slice(0, 80)}"`);
    if (password !== undefined && !PASSWORD_RE.test(password))
      return sipError("bad_uri", "bad password part");
  }
  const hostPart = main.slice(at + 1);
  const semi = hostPart.indexOf(";");
  const hostPort = parseHostPort(semi < 0 ? hostPart : hostPart.slice(0, semi));
  if ("code" in hostPort) return { ok: false, error: hostPort };
  const params = semi < 0 ? [] : parseUriParams(hostPart.slice(semi + 1));
  if ("code" in params) return { ok: false, error: params };
  return { ok: true, uri: { scheme, user, password, ...hostPort, params, headers } };
}

/** hostport (§25.1): host [ ":" port ], the port 1-65535. */
function parseHostPort(text: string): { host: string; port: number | undefined } | SipError {
  let host: string;
  let after: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return { code: "bad_uri", message: "IPv6 reference without ]" };
    host = text.slice(0, close + 1);
    after = text.slice(close + 1);
  } else {
    const c = text.indexOf(":");
    host = c < 0 ? text : text.slice(0, c);
    after = c < 0 ? "" : text.slice(c);
  }
  if (!isHost(host)) return { code: "bad_uri", message: `bad host "${host.slice(0, 80)}"` };
  if (after === "") return { host, port: undefined };
  const port = /^:(\d{1,5})$/.exec(after)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535)
    return { code: "bad_uri", message: `bad port "${after.slice(0, 20)}"` };
  return { host, port: Number(port) };
}

/** A host name (labels of letters, digits, inner `-`), a dotted-quad IPv4, or `[IPv6]`. */
export function isHost(host: string): boolean {
  if (host.startsWith("[")) {
    const inner = host.slice(1, -1);
    // net.isIPv6 takes a zone (`fe80::1%eth0`), which RFC 3261's IPv6reference has not.
    return host.endsWith("]") && !inner.includes("%") && isIPv6(inner);
  }
  if (/^[\d.]+$/.test(host)) return isIPv4Strict(host);
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => LABEL_RE.test(label));
}

/** Four decimal octets, 0-255 (a leading zero is allowed, as in RFC 3261's grammar). */
/** Four dot-separated decimal numbers of 1-3 digits, each at most 255 (one pass, no regex). */
function isIPv4Strict(host: string): boolean {
  let dots = 0;
  let digits = 0;
  let n = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      n = 0;
    } else if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      if (++digits > 3 || n > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

/** `lr;transport=tcp;maddr=10.0.0.1` (the text after the first `;`): no empty parameter. */
function parseUriParams(text: string): SipParam[] | SipError {
  const out: SipParam[] = [];
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? undefined : part.slice(eq + 1);
    if (!PARAM_RE.test(name) || (value !== undefined && !PARAM_RE.test(value)))
      return { code: "bad_uri", message: `bad URI parameter ";${part.slice(0, 80)}"` };
    out.push([name, value]);
  }
  return out;
}

/** `a=1&b=2` (the text after `?`): at least one header, each with `=`. */
function parseUriHeaders(text: string): UriHeader[] | SipError {
  const out: UriHeader[] = [];
  for (const part of text.split("&")) {
    const eq = part.indexOf("=");
    const name = part.slice(0, Math.max(eq, 0));
    const value = part.slice(eq + 1);
    if (eq < 0 || !HNAME_RE.test(name) || !HVALUE_RE.test(value))
      return { code: "bad_uri", message: `bad URI header "${part.slice(0, 80)}"` };
    out.push([name, value]);
  }
  return out;
}

/** The URI as text. A bare IPv6 host (`::1`, from a hand-built value) gets its brackets. */
export function formatUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined)
    out += uri.password === undefined ? `${uri.user}@` : `${uri.user}:${uri.password}@`;
  out += bracketed(uri.host);
  if (uri.port !== undefined) out += `:${uri.port}`;
  for (const [name, value] of uri.params) out += value === undefined ? `;${name}` : `;${name}=${value}`;
  if (uri.headers.length > 0) out += `?${uri.headers.map(([n, v]) => `${n}=${v}`).join("&")}`;
  return out;
}

function bracketed(host: string): string {
  return !host.startsWith("[") && isIPv6(host) ? `[${host}]` : host;
}

/** The value of a URI parameter by any case of its name (`lr`, `transport`, `maddr`, `user`). */
export function uriParam(uri: SipUri, name: string): string | undefined {
  return paramValue(uri.params, name);
}

/** A loose router's URI (RFC 3261 §16.4, §19.1.1 lr-param): it carries `;lr`. */
export function hasLr(uri: SipUri): boolean {
  return hasParam(uri.params, "lr");
}

/**
 * The port a URI without one means: 5061 for sips and for `transport=tls`, else 5060
 * (RFC 3261 §19.1.2, RFC 3263 §4.2).
 */
export function defaultPort(uri: SipUri): number {
  return uri.scheme === "sips" || uriParam(uri, "transport")?.toLowerCase() === "tls" ? 5061 : 5060;
}

/**
 * A host in one spelling for comparing: lower case, no trailing dot, an IPv6 address in its
 * shortest form with brackets (`[0:0::1]` and `::1` are both `[::1]`).
 */
export const canonicalHost: (host: string) => string = recent(canonicalHostText);

function canonicalHostText(host: string): string {
  const lower = host.toLowerCase().replace(/\.$/, "");
  const inner = lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
  const url = `http://[${inner}]/`;
  // URL.canParse: the WHATWG parser refuses a few forms net.isIPv6 takes (`::1.2.3.04`).
  if (inner.includes("%") || !isIPv6(inner) || !URL.canParse(url)) return lower;
  return new URL(url).hostname;
}

export function sameHost(a: string, b: string): boolean {
  return a === b || canonicalHost(a) === canonicalHost(b);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** The port to assume when the URI has none; defaultPort(uri) when not given. */
  readonly defaultPort?: number;
}

/** Whether the URI names that host and port: "is this Route or Request-URI us" (§16.4). */
export function sameHostPort(uri: SipUri, us: HostPort): boolean {
  return sameHost(uri.host, us.host) && (uri.port ?? us.defaultPort ?? defaultPort(uri)) === us.port;
}

/** The text with its `%xx` escapes decoded (for comparing users, §19.1.4); undefined if malformed. */
export function unescapeUri(text: string): string | undefined {
  if (!/^(?:[^%]|%[0-9A-Fa-f]{2})*$/.test(text)) return undefined;
  try {
    return decodeURIComponent(text);
  } catch {
    // An escape sequence that is not UTF-8 (`%ff`): no text to compare.
    return undefined;
  }
}
