import type { SessionEnded } from "../../events/types.ts";
import type { ExchangeRecord } from "./proxy-env.ts";

/** One request's session.end: its status is the outcome; 5xx, an error or no answer is not ok. */
export function sessionEnded(listener: string, r: ExchangeRecord): SessionEnded {
  return {
    protocol: "http",
    listener,
    client: r.client,
    request: `${r.method} ${r.path}`,
    upstreamRequest: undefined,
    route: r.route,
    pool: r.pool,
    server: r.server,
    attempts: r.attempts,
    // To 0.1 ms: a log line has no use for the 13 digits of performance.now()'s difference.
    durationMs: Math.round(r.durationMs * 10) / 10,
    setupMs: r.setupMs,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    outcome: r.status === 0 ? "aborted" : String(r.status),
    ok: r.status !== 0 && r.status < 500 && r.error === undefined,
    error: r.error?.message,
    errorCode: r.error?.code,
    http: { method: r.method, host: r.host, path: r.path, status: r.status, by: r.by },
  };
}
