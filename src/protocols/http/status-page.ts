/**
 * Status pages, pure: what a client gets when no server can answer. Codes per the shared
 * contract of issue #14 (after gogeta's wait pages): 404 for no route, 503 with Retry-After
 * while a service starts or sleeps (RFC 9110 §10.2.3), 503 when stopped, 500 on error.
 * The page refreshes itself every 5 s, so a browser lands on the service once it is up.
 */

import type { ServiceStatus } from "./config.ts";

export type PageKind = ServiceStatus | "no_route" | "no_server" | "bad_gateway" | "gateway_timeout";

export interface StatusAnswer {
  readonly code: number;
  readonly retryAfter: boolean;
  readonly status: string;
  readonly message: string;
}

const ANSWERS: Readonly<Record<PageKind, StatusAnswer>> = {
  no_route: {
    code: 404,
    retryAfter: false,
    status: "not found",
    message: "No service answers for this address.",
  },
  starting: {
    code: 503,
    retryAfter: true,
    status: "starting",
    message: "The service is starting. This page will reload itself.",
  },
  passivated: {
    code: 503,
    retryAfter: true,
    status: "passivated",
    message: "The service is waking up. This page will reload itself.",
  },
  stopped: { code: 503, retryAfter: false, status: "stopped", message: "The service is stopped." },
  error: { code: 500, retryAfter: false, status: "error", message: "The service is in error." },
  no_server: {
    code: 503,
    retryAfter: true,
    status: "unavailable",
    message: "No server of the service is available. This page will reload itself.",
  },
  bad_gateway: {
    code: 502,
    retryAfter: false,
    status: "bad gateway",
    message: "The service did not answer.",
  },
  gateway_timeout: {
    code: 504,
    retryAfter: false,
    status: "gateway timeout",
    message: "The service did not answer in time.",
  },
};

export function statusAnswer(kind: PageKind): StatusAnswer {
  return ANSWERS[kind];
}

export const DEFAULT_TEMPLATE = `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>{{code}} {{status}}</title>
<style>body{font-family:sans-serif;margin:4em auto;max-width:40em;color:#333}h1{font-weight:normal}</style>
</head><body><h1>{{service}}: {{status}}</h1><p>{{message}}</p><p><small>{{code}} · {{host}} · trunkline</small></p></body></html>
`;

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export interface PageValues {
  readonly code: number;
  readonly status: string;
  readonly host: string;
  readonly service: string;
  readonly message: string;
}

/** Fills `{{code}} {{status}} {{host}} {{service}} {{message}}`, every value HTML-escaped. */
export function renderStatusPage(template: string, v: PageValues): string {
  return template.replace(/\{\{(code|status|host|service|message)\}\}/g, (_, k: keyof PageValues) =>
    escapeHtml(String(v[k])),
  );
}
