import type { OwnPage } from "./proxy-env.ts";
import { DEFAULT_TEMPLATE, type PageKind, renderStatusPage, statusAnswer } from "./status-page.ts";
import type { InboundRequest } from "./wire/inbound.ts";

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

/** A page as the whole answer (its body left out for HEAD). */
export function sendPage(req: InboundRequest, p: OwnPage): void {
  const headers: string[] = ["Content-Type", p.contentType, "Cache-Control", "no-store"];
  headers.push("Content-Length", String(p.body.length));
  if (p.retryAfter) headers.push("Retry-After", "5");
  req.writeHead(p.code, p.reason, headers, "length");
  req.end(req.head.method === "HEAD" ? undefined : p.body);
}
