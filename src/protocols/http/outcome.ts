/**
 * What a failed try of one upstream server means, pure: whether the request may have
 * reached it (and so may be retried only if safe), what the client is answered, and the
 * stable error code.
 */

import { type ErrorCode, ErrorCodes } from "../../core/errors.ts";
import { QueueTimeout } from "./wire/upstream-pool.ts";

export interface TryFailure {
  /** False when no byte of the request can have reached the server (connect failed). */
  readonly sent: boolean;
  readonly timeout: boolean;
  readonly code: ErrorCode;
  readonly message: string;
}

/** Errors raised before a connection existed: the request went nowhere. */
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);

/**
 * A failed try: `reached` when the request was being written to an open connection (so the
 * server may have seen it), false when no connection could be had.
 */
export function classifyFailure(err: unknown, reached: boolean): TryFailure {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const text = typeof e?.message === "string" ? e.message : String(err);
  const ours = code.startsWith("E_");
  const message = ours || code === "" ? text : `${code}: ${text}`;
  if (code === ErrorCodes.CONNECT_TIMEOUT)
    return { sent: false, timeout: true, code: ErrorCodes.CONNECT_TIMEOUT, message };
  if (code === ErrorCodes.TLS_FAILED)
    return { sent: false, timeout: false, code: ErrorCodes.TLS_FAILED, message };
  if (code === ErrorCodes.LOCAL_RESOURCE)
    return { sent: false, timeout: false, code: ErrorCodes.LOCAL_RESOURCE, message };
  if (!reached || code === ErrorCodes.CONNECT_FAILED || NOT_SENT.has(code))
    return { sent: false, timeout: false, code: ErrorCodes.CONNECT_FAILED, message };
  if (code === ErrorCodes.UPSTREAM_TIMEOUT)
    return { sent: true, timeout: true, code: ErrorCodes.UPSTREAM_TIMEOUT, message };
  return { sent: true, timeout: false, code: ErrorCodes.UPSTREAM_GONE, message };
}

/** RFC 9110 §9.2.1 safe methods: repeating one cannot change the server's state. */
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** RFC 9110 §9.2.2 idempotent methods: the safe ones, PUT and DELETE. */
const IDEMPOTENT = new Set([...SAFE, "TRACE", "PUT", "DELETE"]);

/**
 * May a request that a reused connection's server may have read be sent again? Only an
 * idempotent one (RFC 9112 §9.3.1): a POST the server read before it closed could be done twice.
 */
export function idempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** A reused keep-alive connection found closed is replaced this many times per try, at most. */
const STALE_RETRIES = 2;

/**
 * Whether a try on a reused connection closed before any byte of answer may be made again on
 * a new one (`replaced`: times already): the server may have read it, so idempotent ones only.
 */
export function mayRetryStale(method: string, bodyBytesSent: number, replaced: number): boolean {
  return bodyBytesSent === 0 && replaced < STALE_RETRIES && idempotent(method);
}

/**
 * Whether a failed try may be made again on another server: a request that never left may
 * always be; one that was sent only when safe, bodiless, and nothing of an answer was
 * relayed (the caller only asks before the response head reached the client).
 */
export function mayRetry(f: TryFailure, method: string, body: boolean, bodyBytesSent: number): boolean {
  if (!f.sent && bodyBytesSent === 0) return true;
  return SAFE.has(method) && !body;
}

/**
 * Whether a failed try tells passive health something about the server: not a wait in this
 * proxy's own queue for a connection, nor this host out of descriptors, buffers or ports.
 */
export function blamesServer(err: unknown, f: TryFailure): boolean {
  return !(err instanceof QueueTimeout) && f.code !== ErrorCodes.LOCAL_RESOURCE;
}
