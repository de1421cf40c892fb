/**
 * The proxy's first steps on a request (RFC 3261 §16.3 validation, §16.4 Route
 * pre-processing) and the Record-Route value it adds (§16.6 step 4), as pure functions: the
 * caller answers a rejection with buildResponse and forwards the message given back.
 */

import { withHeaders } from "./edit.ts";
import { parseNameAddr } from "./fields.ts";
import { headerValues, splitTopLevel } from "./headers.ts";
import type { SipParam } from "./params.ts";
import { type SipError, type SipHeader, type SipRequest, sipError } from "./types.ts";
import { formatUri, hasLr, isHost, parseUri, type SipUri, sameHostPort } from "./uri.ts";

/** This proxy: the address it listens on and puts in Record-Route. */
export interface ProxyAddress {
  readonly host: string;
  readonly port: number;
  /** `udp`, `tcp`, `tls`... (written lower case in the Record-Route URI). */
  readonly transport: string;
}

/** Why a request is refused: the status to answer and the headers that go with it. */
export interface Rejection {
  readonly status: number;
  readonly error: SipError;
  readonly headers: readonly (readonly [name: string, value: string])[];
}

function reject(status: number, code: string, message: string, headers: Rejection["headers"] = []) {
  return { ok: false as const, rejection: { status, error: { code, message }, headers } };
}

/**
 * §16.3 steps 1, 2, 3 and 5 (step 4, loops, is loopCheck in branch.ts; step 6, Proxy-
 * Authorization, is not ours): a Request-URI that is no URI → 400, of another scheme → 416;
 * a From or To that is no address → 400 (the proxy drops it: no answer can copy it);
 * Max-Forwards not a number → 400, 0 → 483; any Proxy-Require option tag → 420 with
 * Unsupported listing them, as this proxy supports none. (An ACK is never answered: the
 * caller drops it instead.)
 */
export function validateRequest(
  req: SipRequest,
): { readonly ok: true } | { readonly ok: false; readonly rejection: Rejection } {
  const uri = parseUri(req.uri);
  if (!uri.ok)
    return uri.error.code === "unsupported_scheme"
      ? reject(416, uri.error.code, uri.error.message)
      : reject(400, "bad_request_uri", `Request-URI: ${uri.error.message}`);
  for (const name of ["from", "to"] as const) {
    // Every answer copies From and To (§8.2.6.2): one we cannot read could not be answered.
    const value = req.headers.find((h) => h.name === name)?.value;
    const addr = value === undefined ? undefined : parseNameAddr(value);
    if (addr !== undefined && !addr.ok) return reject(400, `bad_${name}`, `${name}: ${addr.error.message}`);
  }
  const maxForwards = req.headers.filter((h) => h.name === "max-forwards");
  for (const h of maxForwards)
    if (!/^\d{1,10}$/.test(h.value))
      return reject(400, "bad_max_forwards", `Max-Forwards "${h.value.slice(0, 40)}" is not a number`);
  const first = maxForwards[0];
  if (first !== undefined && Number(first.value) === 0)
    return reject(483, "max_forwards_zero", "Max-Forwards is 0");
  const required = headerValues(req, "proxy-require");
  if (required.length > 0)
    return reject(420, "unsupported_extension", `Proxy-Require: ${required.join(", ")}`, [
      ["Unsupported", required.join(", ")],
    ]);
  return { ok: true };
}

export type RouteResult =
  | {
      readonly ok: true;
      readonly message: SipRequest;
      /** The Request-URI was ours (a strict router upstream): it was replaced by the last Route. */
      readonly strict: boolean;
      /** How many of our own Route values were taken off the top (two after a double Record-Route). */
      readonly popped: number;
    }
  | { readonly ok: false; readonly error: SipError };

/**
 * §16.4. If the Request-URI is us and there is a Route (a strict router sent it), the last
 * Route value becomes the Request-URI and leaves the Route set. Then every Route value on top
 * that is us is taken off (RFC 3261 says the first; two are ours after a double Record-Route,
 * §16.6 step 4). "Us" is host and port, whatever transport the URI names.
 * Errors: bad_route (a Route value we had to read is no SIP address).
 */
export function preprocessRoute(req: SipRequest, us: ProxyAddress): RouteResult {
  let message = req;
  let strict = false;
  const requestUri = parseUri(req.uri);
  if (requestUri.ok && isUs(requestUri.uri, us) && headerValues(req, "route").length > 0) {
    const last = routeUri(headerValues(req, "route").at(-1) ?? "");
    if (!last.ok) return last;
    message = { ...removeRouteValue(req, "last"), uri: last.text };
    strict = true;
  }
  let popped = 0;
  for (const value of headerValues(message, "route")) {
    const top = routeUri(value);
    if (!top.ok) return top;
    if (!isUs(top.uri, us)) break;
    // Two are ours after a double Record-Route; a few more on a spiral. Thousands are an
    // attack on the parser (10 µs each): refused after MAX_OWN_ROUTES.
    if (++popped > MAX_OWN_ROUTES)
      return sipError("bad_route", `more than ${MAX_OWN_ROUTES} Route values name this proxy`);
  }
  // Taken off in one pass: one value at a time re-split the line each time, quadratic in a
  // line of thousands of our values (52 ms of CPU for one 56 KB datagram, measured).
  if (popped > 0) message = removeFirstRouteValues(message, popped);
  return { ok: true, message, strict, popped };
}

function isUs(uri: SipUri, us: ProxyAddress): boolean {
  return sameHostPort(uri, { host: us.host, port: us.port });
}

/** The URI of a Route value (`<sip:p;lr>`), parsed and as text. */
function routeUri(
  value: string,
):
  | { readonly ok: true; readonly uri: SipUri; readonly text: string }
  | { readonly ok: false; readonly error: SipError } {
  const addr = parseNameAddr(value);
  if (!addr.ok) return sipError("bad_route", `Route "${value.slice(0, 80)}": ${addr.error.message}`);
  const uri = parseUri(addr.addr.uri);
  if (!uri.ok) return sipError("bad_route", `Route "${value.slice(0, 80)}": ${uri.error.message}`);
  return { ok: true, uri: uri.uri, text: addr.addr.uri };
}

const MAX_OWN_ROUTES = 16;

/** The message without its first `n` Route values, whatever lines they are on. */
function removeFirstRouteValues(m: SipRequest, n: number): SipRequest {
  let left = n;
  const headers: SipHeader[] = [];
  for (const h of m.headers) {
    if (h.name !== "route" || left === 0) {
      headers.push(h);
      continue;
    }
    const values = splitTopLevel(h.value);
    const rest = values.slice(Math.min(left, values.length));
    left -= values.length - rest.length;
    if (rest.length > 0) headers.push({ ...h, value: rest.join(", ") });
  }
  return withHeaders(m, headers);
}

/**
 * The message without its first or last Route value, which may share a line with others
 * (`Route: <a>, <b>` keeps `Route: <b>`). The message must have a Route.
 */
function removeRouteValue(m: SipRequest, which: "first" | "last"): SipRequest {
  const lines = m.headers.flatMap((h, i) => (h.name === "route" ? [i] : []));
  const at = which === "first" ? lines[0] : lines.at(-1);
  const line = at === undefined ? undefined : m.headers[at];
  if (at === undefined || line === undefined) return m;
  const values = splitTopLevel(line.value);
  const rest = which === "first" ? values.slice(1) : values.slice(0, -1);
  const headers: SipHeader[] = [...m.headers];
  if (rest.length === 0) headers.splice(at, 1);
  else headers[at] = { ...line, value: rest.join(", ") };
  return withHeaders(m, headers);
}

/**
 * Our Record-Route value (§16.6 step 4): `<sip:HOST:PORT;transport=T;lr;extra...>`, the extra
 * parameters after `lr` (where a signed server token will go). Errors: bad_value (a host,
 * port, transport or parameter that cannot be written in a SIP URI, or an extra `lr` or
 * `transport`).
 */
export function recordRouteValue(
  us: ProxyAddress,
  extra: readonly SipParam[] = [],
): { readonly ok: true; readonly value: string } | { readonly ok: false; readonly error: SipError } {
  const host = us.host.includes(":") && !us.host.startsWith("[") ? `[${us.host}]` : us.host;
  if (!isHost(host)) return sipError("bad_value", `"${us.host}" is no host`);
  if (!Number.isInteger(us.port) || us.port < 1 || us.port > 65535)
    return sipError("bad_value", `port ${us.port} is not 1-65535`);
  for (const [name] of extra)
    if (["lr", "transport"].includes(name.toLowerCase()))
      return sipError("bad_value", `extra parameter ${name} is written by recordRouteValue itself`);
  const uri: SipUri = {
    scheme: "sip",
    user: undefined,
    password: undefined,
    host,
    port: us.port,
    params: [["transport", us.transport.toLowerCase()], ["lr", undefined], ...extra],
    headers: [],
  };
  const text = formatUri(uri);
  // Parsing it back checks every character of the transport and the extra parameters.
  const back = parseUri(text);
  if (!back.ok || !hasLr(back.uri) || back.uri.params.length !== uri.params.length)
    return sipError("bad_value", `"${text.slice(0, 120)}" is no SIP URI`);
  return { ok: true, value: `<${text}>` };
}
