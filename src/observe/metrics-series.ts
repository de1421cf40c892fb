import { collectDefaultMetrics, type Metric, Registry } from "prom-client";

/** Separates label values in a series key; no name from the config can hold it (NAME_RE). */
export const SEP = "\u0000";

/** Label sets one metric may hold before new ones are dropped (and counted). */
export const DEFAULT_MAX_SERIES = 10_000;

/**
 * The pre-bound children (cells) of one metric, keyed by the label values joined with SEP,
 * so the hot path builds one short string and does one Map lookup. Label values come from the config (names,
 * server addresses, outcomes, error codes) and are bounded, but a bug or a route script
 * must never make the process grow without bound: past `limit` label sets, updates that
 * would need a new one are dropped and counted instead.
 */
export class Series<T> {
  readonly metric: string;
  readonly #children = new Map<string, T>();
  readonly #arity: number;
  readonly #limit: number;
  readonly #bind: (values: string[]) => T;
  readonly #dropped: (metric: string) => void;

  constructor(
    metric: string,
    arity: number,
    limit: number,
    bind: (values: string[]) => T,
    dropped: (metric: string) => void,
  ) {
    this.metric = metric;
    this.#arity = arity;
    this.#limit = limit;
    this.#bind = bind;
    this.#dropped = dropped;
  }

  get size(): number {
    return this.#children.size;
  }

  values(): IterableIterator<T> {
    return this.#children.values();
  }

  clear(): void {
    this.#children.clear();
  }

  /** The child of the label values in `key`; undefined (counted) when it would be one too many. */
  get(key: string): T | undefined {
    const child = this.#children.get(key);
    return child === undefined ? this.#add(key) : child;
  }

  #add(key: string): T | undefined {
    const values = key.split(SEP);
    // A value holding SEP would shift every label after it: drop rather than mislabel.
    if (this.#children.size >= this.#limit || values.length !== this.#arity) {
      this.#dropped(this.metric);
      return undefined;
    }
    const child = this.#bind(values);
    this.#children.set(key, child);
    return child;
  }
}

/** Session lengths: a failed routing takes milliseconds, an IVR call minutes, a queue an hour. */
export const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];
/** Header to upstream connected: a millisecond on a LAN, seconds when connects time out. */
export const SETUP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
export const PROBE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

let processMetrics: readonly Metric[] | undefined;

/**
 * prom-client's process and Node.js metrics, made once per process and registered into
 * every proxy's registry. collectDefaultMetrics may be called once per registry, but each
 * call starts its own event-loop-delay monitor (a 10 ms libuv timer) and its own GC
 * PerformanceObserver, and nothing can stop either later: one call per proxy would leak
 * both on every close(). The values are the process's anyway, whichever proxy reports them.
 */
export function sharedProcessMetrics(): readonly Metric[] {
  if (processMetrics) return processMetrics;
  const r = new Registry();
  collectDefaultMetrics({ register: r, prefix: "trunkline_" });
  const out: Metric[] = [];
  for (const m of r.getMetricsAsArray()) {
    const metric = r.getSingleMetric(m.name);
    if (metric) out.push(metric);
  }
  processMetrics = out;
  return out;
}

/**
 * The key of the last label values given, kept while the same values come again (compared
 * by value): a proxy's sessions mostly end on the same route, pool and server, and then the
 * hot path skips the join of a new key string and its hashing. One memo per call site.
 */
export class KeyMemo {
  #a = "";
  #b = "";
  #c = "";
  #d = "";
  #e = "";
  #f = "";
  #key: string | undefined;

  key(a: string, b = "", c = "", d = "", e = "", f = "", n = 6): string {
    if (
      this.#key !== undefined &&
      a === this.#a &&
      b === this.#b &&
      c === this.#c &&
      d === this.#d &&
      e === this.#e &&
      f === this.#f
    )
      return this.#key;
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    this.#e = e;
    this.#f = f;
    const all = [a, b, c, d, e, f].slice(0, n);
    this.#key = all.join(SEP);
    return this.#key;
  }
}
