/**
 * A session's log line fields, and the same fields written as JSON by hand. The access line
 * is written once per request: on Node 20, JSON.stringify of its object cost about 1 µs
 * (2–3% of the proxy's CPU per HTTP request on the bench). `sessionJson(r)` is exactly
 * `JSON.stringify(sessionFields(r))` without its braces (a property test holds them equal):
 * strings that need no escape and whole or tenth numbers are written directly, anything else
 * goes through JSON.stringify.
 */

import type { SessionEnded } from "../events/types.ts";

/** One line per session at its end: who, what, where, how long, how much, how it ended. */
export function sessionFields(r: SessionEnded): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    event: "session",
    client: r.client,
    listener: r.listener,
    request: r.request,
    route: r.route,
    pool: r.pool,
    server: r.server,
    duration_ms: r.durationMs,
    bytes_in: r.bytesIn,
    bytes_out: r.bytesOut,
    outcome: r.outcome,
  };
  if (r.upstreamRequest !== undefined) fields.upstream_request = r.upstreamRequest;
  if (r.attempts.length > 0) fields.failed_attempts = r.attempts;
  if (r.error !== undefined) fields.error = r.error;
  if (r.errorCode !== undefined) fields.error_code = r.errorCode;
  if (r.sip !== undefined) {
    fields.call_id = r.sip.callId;
    fields.from = r.sip.from;
    fields.to = r.sip.to;
    fields.final_code = r.sip.finalCode;
    fields.setup_ms = r.setupMs;
    fields.end = r.sip.end;
  }
  if (r.http !== undefined) {
    // The access log's fields.
    fields.method = r.http.method;
    fields.host = r.http.host;
    fields.path = r.http.path;
    fields.status = r.http.status;
    fields.answered_by = r.http.by;
    if (r.setupMs !== undefined) fields.upstream_ms = tenths(r.setupMs);
  }
  return fields;
}

/** To 0.1 ms: a log line has no use for the 13 digits of performance.now()'s difference. */
export function tenths(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Whether JSON writes `s` as it is, between quotes (undefined: left out, so it is). */
function plain(s: string | undefined): boolean {
  if (s === undefined) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/** A string as JSON: quoted as is when nothing in it needs an escape. */
function str(s: string): string {
  return plain(s) ? `"${s}"` : JSON.stringify(s);
}

/** A number as JSON.stringify writes it; whole and tenth numbers without its double-to-text. */
function num(n: number): string {
  if (Number.isInteger(n)) return `${n}`;
  const t = Math.round(n * 10);
  if (n > 0 && t < 1e15 && t / 10 === n) return `${(t - (t % 10)) / 10}.${t % 10}`;
  return JSON.stringify(n);
}

/** `,"name":value` for a string field; nothing when it is undefined (as JSON.stringify leaves it out). */
function s(name: string, v: string | undefined): string {
  return v === undefined ? "" : `,"${name}":${str(v)}`;
}

/** `,"name":value` for a number field; nothing when it is undefined. */
function n(name: string, v: number | undefined): string {
  return v === undefined ? "" : `,"${name}":${num(v)}`;
}

/** `,"name":"value"`, or nothing for undefined; for a value known plain. */
function q(name: string, v: string | undefined): string {
  return v === undefined ? "" : `,"${name}":"${v}"`;
}

/**
 * The usual access line (an HTTP request that went well, every text plain) as one template:
 * half the strings and time of the general way. Undefined when it is not that line.
 */
function httpLine(r: SessionEnded): string | undefined {
  const h = r.http;
  if (h === undefined || r.sip !== undefined || r.attempts.length > 0) return undefined;
  if (r.upstreamRequest !== undefined || r.error !== undefined || r.errorCode !== undefined) return undefined;
  if (!plain(r.client) || !plain(r.listener) || !plain(r.request) || !plain(r.route)) return undefined;
  if (!plain(r.pool) || !plain(r.server) || !plain(r.outcome)) return undefined;
  if (!plain(h.method) || !plain(h.host) || !plain(h.path)) return undefined;
  const up = r.setupMs === undefined ? "" : `,"upstream_ms":${num(tenths(r.setupMs))}`;
  return `"event":"session","client":"${r.client}","listener":"${r.listener}"${q("request", r.request)}${q("route", r.route)}${q("pool", r.pool)}${q("server", r.server)},"duration_ms":${num(r.durationMs)},"bytes_in":${num(r.bytesIn)},"bytes_out":${num(r.bytesOut)},"outcome":"${r.outcome}","method":"${h.method}","host":"${h.host}","path":"${h.path}","status":${num(h.status)},"answered_by":"${h.by}"${up}`;
}

/** `JSON.stringify(sessionFields(r))` without its braces. */
export function sessionJson(r: SessionEnded): string {
  const line = httpLine(r);
  if (line !== undefined) return line;
  let j = `"event":"session"${s("client", r.client)}${s("listener", r.listener)}${s("request", r.request)}${s("route", r.route)}${s("pool", r.pool)}${s("server", r.server)}${n("duration_ms", r.durationMs)}${n("bytes_in", r.bytesIn)}${n("bytes_out", r.bytesOut)}${s("outcome", r.outcome)}`;
  if (r.upstreamRequest !== undefined) j += s("upstream_request", r.upstreamRequest);
  if (r.attempts.length > 0) j += `,"failed_attempts":${JSON.stringify(r.attempts)}`;
  if (r.error !== undefined) j += `${s("error", r.error)}${s("error_code", r.errorCode)}`;
  else if (r.errorCode !== undefined) j += s("error_code", r.errorCode);
  const sip = r.sip;
  if (sip !== undefined)
    j += `${s("call_id", sip.callId)}${s("from", sip.from)}${s("to", sip.to)}${n("final_code", sip.finalCode)}${n("setup_ms", r.setupMs)}${s("end", sip.end)}`;
  const h = r.http;
  if (h !== undefined) {
    j += `${s("method", h.method)}${s("host", h.host)}${s("path", h.path)}${n("status", h.status)}${s("answered_by", h.by)}`;
    if (r.setupMs !== undefined) j += n("upstream_ms", tenths(r.setupMs));
  }
  return j;
}
