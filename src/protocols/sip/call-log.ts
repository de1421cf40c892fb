/**
 * The one log line of a SIP call (issue #13): the session.end a call makes when it leaves the
 * calls table, with its Call-ID, From, To, server, setup time, duration and final code.
 */

import { ErrorCodes } from "../../core/errors.ts";
import type { SessionEnded } from "../../events/types.ts";
import type { CallEnd, CallRecord } from "./calls.ts";

export function callEnded(listener: string, c: CallRecord, why: CallEnd, now: number): SessionEnded {
  const code = c.finalCode;
  return {
    protocol: "sip",
    listener,
    client: c.client,
    request: c.request,
    upstreamRequest: undefined,
    route: c.route,
    pool: c.pool,
    server: c.server,
    attempts: c.failures.map((f) => ({
      server: f.server,
      error: f.error,
      // This process's own shortage (EMFILE and the like, its own caps) is no fault of the server's.
      code: f.error.startsWith("no provisional")
        ? ErrorCodes.CONNECT_TIMEOUT
        : /^transport: (local_resource|not_sent):/.test(f.error)
          ? ErrorCodes.LOCAL_RESOURCE
          : ErrorCodes.CONNECT_FAILED,
    })),
    durationMs: now - c.startedAt,
    setupMs: c.setupMs,
    bytesIn: 0,
    bytesOut: 0,
    outcome: code === undefined ? why : String(code),
    ok: code === undefined ? why !== "timeout" : code < 500 || code >= 600,
    error: undefined,
    errorCode: code === 503 && c.server === undefined ? ErrorCodes.NO_SERVER : undefined,
    sip: { callId: c.callId, from: c.from, to: c.to, finalCode: code, end: why },
  };
}
