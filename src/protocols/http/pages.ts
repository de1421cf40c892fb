import type { SessionEnded } from "../../events/types.ts";
import type { ExchangeRecord, OwnPage } from "./proxy-env.ts";
import { DEFAULT_TEMPLATE, type PageKind, renderStatusPage, statusAnswer } from "./status-page.ts";

const REASON: Readonly<Record<number, string>> = {
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * The page the proxy answers itself: upstream failures (502, 504) get a short text body,
 * as a client program reads them; service states and unknown hosts get the HTML template
 * (the listener's `status_page` or the built-in one), as a browser shows them.
 */
export function ownPage(
  template: string | undefined,
  kind: PageKind,
  host: string,
  service: string,
): OwnPage {
  const a = statusAnswer(kind);
  const reason = REASON[a.code] ?? "Error";
  if (kind === "bad_gateway" || kind === "gateway_timeout")
    return {
      code: a.code,
      reason,
      retryAfter: a.retryAfter,
      contentType: "text/plain; charset=utf-8",
      body: Buffer.from(`${a.code} ${reason}: ${a.message}\n`),
    };
  const html = renderStatusPage(template ?? DEFAULT_TEMPLATE, {
    code: a.code,
    status: a.status,
    host,
    service,
    message: a.message,
  });
  return {
    code: a.code,
    reason,
    retryAfter: a.retryAfter,
    contentType: "text/html; charset=utf-8",
    body: Buffer.from(html),
  };
}

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
    durationMs: r.durationMs,
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
