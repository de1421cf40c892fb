import type { SessionEnded } from "../events/types.ts";
import type { CounterCell, HistogramCell } from "./metrics-cells.ts";
import { KeyMemo, type Series } from "./metrics-series.ts";

/** Buckets of an HTTP request's duration: from a cached page (1 ms) to a slow upload (60 s). */
export const HTTP_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

type CounterOf = (name: string, help: string, labelNames: readonly string[]) => Series<CounterCell>;
type HistogramOf = (
  name: string,
  help: string,
  labelNames: readonly string[],
  buckets: number[],
) => Series<HistogramCell>;

/** 2xx, 3xx...; "aborted" for a request whose answer never completed. */
const CLASSES = ["aborted", "1xx", "2xx", "3xx", "4xx", "5xx"];

function codeClass(status: number): string {
  return status === 0 ? "aborted" : (CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`);
}

/**
 * HTTP's own metrics, by route, pool, server and status class (labels bounded: names from
 * the config and five classes). Returns the session.end handler metrics.ts subscribes.
 */
export function httpMetrics(counter: CounterOf, histogram: HistogramOf): (r: SessionEnded) => void {
  const requests = counter(
    "trunkline_http_requests_total",
    "HTTP requests answered, by route, pool, server (empty: answered by the proxy) and status class.",
    ["listener", "route", "pool", "server", "code_class"],
  );
  const duration = histogram(
    "trunkline_http_request_duration_seconds",
    "HTTP request time, from the request head to the last byte of the answer.",
    ["listener", "route", "code_class"],
    HTTP_DURATION_BUCKETS,
  );
  const requestsKey = new KeyMemo();
  const durationKey = new KeyMemo();
  return (r) => {
    if (r.http === undefined) return;
    const cls = codeClass(r.http.status);
    const route = r.route ?? "";
    requests.get(requestsKey.key(r.listener, route, r.pool ?? "", r.server ?? "", cls, "", 5))?.inc();
    duration.get(durationKey.key(r.listener, route, cls, "", "", "", 3))?.observe(r.durationMs / 1000);
  };
}
