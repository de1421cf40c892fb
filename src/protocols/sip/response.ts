/**
 * Responses a proxy makes itself (RFC 3261 §8.2.6, §16.3: 100 Trying, 420, 482, 483, 503...):
 * built from the request so the client can match them to its transaction. Pure: gives a
 * SipResponse for serializeMessage, or an error value.
 */

import { parseNameAddr } from "./fields.ts";
import { canonicalName, makeHeader, TOKEN_RE } from "./headers.ts";
import { type SipError, type SipHeader, type SipRequest, type SipResponse, sipError } from "./types.ts";

/** Reason phrases of RFC 3261 §21 (and RFC 3329/4412/6665 ones a proxy meets). */
const REASONS: ReadonlyMap<number, string> = new Map([
  [100, "Trying"],
  [180, "Ringing"],
  [181, "Call Is Being Forwarded"],
  [182, "Queued"],
  [183, "Session Progress"],
  [200, "OK"],
  [202, "Accepted"],
  [400, "Bad Request"],
  [401, "Unauthorized"],
  [403, "Forbidden"],
  [404, "Not Found"],
  [405, "Method Not Allowed"],
  [407, "Proxy Authentication Required"],
  [408, "Request Timeout"],
  [413, "Request Entity Too Large"],
  [416, "Unsupported URI Scheme"],
  [420, "Bad Extension"],
  [480, "Temporarily Unavailable"],
  [481, "Call/Transaction Does Not Exist"],
  [482, "Loop Detected"],
  [483, "Too Many Hops"],
  [486, "Busy Here"],
  [487, "Request Terminated"],
  [488, "Not Acceptable Here"],
  [500, "Server Internal Error"],
  [501, "Not Implemented"],
  [502, "Bad Gateway"],
  [503, "Service Unavailable"],
  [504, "Server Time-out"],
  [513, "Message Too Large"],
  [600, "Busy Everywhere"],
  [603, "Decline"],
]);

/** For a code not in the table: any phrase will do (§21), the class's name says most. */
const CLASS_REASONS = [
  "Provisional",
  "Success",
  "Redirection",
  "Client Error",
  "Server Error",
  "Global Failure",
];

/** The standard reason phrase of a status code, or its class's name for another code. */
export function reasonPhrase(status: number): string {
  return REASONS.get(status) ?? CLASS_REASONS[Math.floor(status / 100) - 1] ?? "";
}

export interface ResponseOptions {
  /** The reason phrase; reasonPhrase(status) when not given. */
  readonly reason?: string;
  /**
   * The To tag to add when the status is above 100 and the request's To has none (§8.2.6.2).
   * The caller chooses it, so retransmitted requests can get the same tag.
   */
  readonly toTag?: string;
  /** Headers after CSeq, in order: `["Retry-After", "5"]`, `["Unsupported", "foo"]`. */
  readonly headers?: readonly (readonly [name: string, value: string])[];
}

export type ResponseResult =
  | { readonly ok: true; readonly response: SipResponse }
  | { readonly ok: false; readonly error: SipError };

/** Headers copied from the request, in this order (§8.2.6.2); Via keeps all its lines. */
const COPIED = ["via", "from", "to", "call-id", "cseq"] as const;

/** One-line text: no CR, LF or control byte (HTAB aside), as a header value or reason. */
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * The response to `req` with that status: the request's Via lines (all, in order), From, To
 * (with `;tag=` added above 100 when missing), Call-ID and CSeq as received, Timestamp on a
 * 100 (§8.2.6.1), then the extra headers and `Content-Length: 0`. Errors: bad_status,
 * bad_value (a reason, tag or header that cannot be written), missing_header, bad_to,
 * missing_to_tag.
 */
export function buildResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): ResponseResult {
  if (!Number.isInteger(status) || status < 100 || status > 699)
    return sipError("bad_status", `status ${status} is not 100-699`);
  const reason = opts.reason ?? reasonPhrase(status);
  if (CONTROL_RE.test(reason)) return sipError("bad_value", "reason phrase holds a control byte");
  const headers: SipHeader[] = [];
  for (const name of COPIED) {
    const lines = req.headers.filter((h) => h.name === name);
    if (lines.length === 0) return sipError("missing_header", `the request has no ${name} header`);
    // Only Via may have several lines; a second From/To/Call-ID/CSeq would be a bad request.
    for (const h of name === "via" ? lines : lines.slice(0, 1)) headers.push(h);
  }
  const toAt = headers.findIndex((h) => h.name === "to");
  const to = headers[toAt];
  if (to === undefined) return sipError("missing_header", "the request has no to header");
  const addr = parseNameAddr(to.value);
  if (!addr.ok) return sipError("bad_to", `To: ${addr.error.message}`);
  if (status > 100 && addr.addr.tag === undefined) {
    if (opts.toTag === undefined) return sipError("missing_to_tag", `a ${status} needs a To tag`);
    if (!TOKEN_RE.test(opts.toTag)) return sipError("bad_value", `To tag "${opts.toTag}" is not a token`);
    headers[toAt] = { ...to, value: `${to.value};tag=${opts.toTag}` };
  }
  if (status === 100) for (const h of req.headers) if (h.name === "timestamp") headers.push(h);
  for (const [name, value] of opts.headers ?? []) {
    if (!TOKEN_RE.test(name)) return sipError("bad_value", `header name "${name}" is not a token`);
    if (CONTROL_RE.test(value)) return sipError("bad_value", `${name} value holds a control byte`);
    const h: SipHeader = { name: canonicalName(name), rawName: name, value: value.trim() };
    // Content-Length is the body's, written below; the caller's would only disagree.
    if (h.name !== "content-length") headers.push(h);
  }
  headers.push(makeHeader("content-length", "0"));
  return {
    ok: true,
    response: { kind: "response", version: "SIP/2.0", status, reason, headers, body: Buffer.alloc(0) },
  };
}
