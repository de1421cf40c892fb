import { Counter, Histogram, type Registry } from "prom-client";
import { Series } from "./metrics-series.ts";

/*
 * Counters and histograms whose hot path is plain arithmetic on a cell found by one Map
 * lookup. prom-client's own update (labels(...).inc(), .observe()) validates the label
 * object and rebuilds its hash string on every call: measured in the proxy, that was most
 * of the ~4 µs the metrics added to each session end. Here the cells hold the counts and
 * prom-client reads them only when scraped.
 */

type Labels = Record<string, string>;

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  const out: Labels = {};
  names.forEach((n, i) => {
    out[n] = values[i] ?? "";
  });
  return out;
}

export class CounterCell {
  readonly labels: Labels;
  n = 0;
  constructor(labels: Labels) {
    this.labels = labels;
  }
  inc(): void {
    this.n++;
  }
}

export class HistogramCell {
  readonly labels: Labels;
  readonly #bounds: readonly number[];
  /** Observations per bucket, not cumulative; the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
}

export interface FamilyOptions {
  readonly registry: Registry;
  /** Label sets per metric (Series). */
  readonly limit: number;
  readonly dropped: (metric: string) => void;
}

/** A counter family: prom-client's Counter, filled from the cells when scraped. */
export function counterFamily(
  o: FamilyOptions,
  name: string,
  help: string,
  labelNames: readonly string[],
): Series<CounterCell> {
  const cells: Series<CounterCell> = new Series(
    name,
    labelNames.length,
    o.limit,
    (v) => new CounterCell(labelsOf(labelNames, v)),
    o.dropped,
  );
  new Counter({
    name,
    help,
    labelNames,
    registers: [o.registry],
    collect() {
      this.reset();
      for (const c of cells.values()) this.inc(c.labels, c.n);
    },
  });
  return cells;
}

type Snapshot = Awaited<ReturnType<Histogram<string>["get"]>>;

/**
 * A histogram whose values come from cells. prom-client has no way to set a histogram's
 * buckets, so this overrides the read side: get() (public) and getForPromString(), which
 * prom-client 15's Registry calls instead of get() on histograms. Both return the same
 * values, in the form get() documents; the tests parse the resulting text strictly.
 */
class CellHistogram extends Histogram<string> {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #cells: Series<HistogramCell>;

  constructor(o: FamilyOptions, name: string, help: string, labelNames: readonly string[], bounds: number[]) {
    super({ name, help, labelNames, buckets: bounds, registers: [o.registry] });
    this.#name = name;
    this.#help = help;
    this.#bounds = bounds;
    this.#cells = new Series(
      name,
      labelNames.length,
      o.limit,
      (v) => new HistogramCell(labelsOf(labelNames, v), bounds),
      o.dropped,
    );
  }

  get cells(): Series<HistogramCell> {
    return this.#cells;
  }

  override async get(): Promise<Snapshot> {
    return this.#snapshot();
  }

  async getForPromString(): Promise<Snapshot> {
    return this.#snapshot();
  }

  override reset(): void {
    // Histogram's constructor calls reset() before this class's fields exist.
    if (#cells in this) this.#cells.clear();
  }

  #snapshot(): Snapshot {
    const bucket = `${this.#name}_bucket`;
    const values: Snapshot["values"] = [];
    for (const c of this.#cells.values()) {
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += c.counts[i] as number;
        values.push({ labels: { ...c.labels, le }, value: acc, metricName: bucket });
      });
      values.push({ labels: { ...c.labels, le: "+Inf" }, value: c.count, metricName: bucket });
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.#name}_sum` });
      values.push({ labels: c.labels, value: c.count, metricName: `${this.#name}_count` });
    }
    return {
      name: this.#name,
      help: this.#help,
      type: "histogram" as unknown as Snapshot["type"],
      values,
      aggregator: "sum",
      // prom-client's typings list it on every metric object; nothing reads it here.
      collect: () => {},
    };
  }
}

export function histogramFamily(
  o: FamilyOptions,
  name: string,
  help: string,
  labelNames: readonly string[],
  bounds: number[],
): Series<HistogramCell> {
  return new CellHistogram(o, name, help, labelNames, bounds).cells;
}
