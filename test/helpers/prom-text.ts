/**
 * A small, strict reader of the Prometheus text exposition format (0.0.4), written from the
 * format's description rather than taken from the library under test: `# HELP` and
 * `# TYPE` lines, then `name{label="value",...} value` samples. It throws on anything a
 * Prometheus server would reject or that would make the output ambiguous: a bad metric or
 * label name, a bad escape, a sample outside the family of the TYPE line above it, a label
 * set twice, a histogram whose buckets are not cumulative or do not end in +Inf = _count.
 */

export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

export interface Exposition {
  readonly families: ReadonlyMap<string, Family>;
  readonly samples: readonly Sample[];
}

const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** A value as Go's strconv.ParseFloat reads it, which the format names: Inf and NaN in any case. */
function parseValue(s: string, line: number): number {
  if (/^\+?inf(inity)?$/i.test(s)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(s)) return Number.NEGATIVE_INFINITY;
  // prom-client writes "Nan" (an event-loop mean before its first sample); Prometheus reads it.
  if (/^nan$/i.test(s)) return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value "${s}"`);
  return Number(s);
}

/** Reads `{a="x",b="y"}` from `s` at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let at = i + 1;
  for (let guard = 0; guard < s.length; guard++) {
    if (s[at] === "}") return [labels, at + 1];
    const eq = s.indexOf("=", at);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = s.slice(at, eq);
    if (!LABEL_NAME.test(name) || name.startsWith("__"))
      throw new Error(`line ${line}: bad label name "${name}"`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label ${name} value not quoted`);
    let v = "";
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] !== "\\") {
        v += s[j];
        continue;
      }
      const e = s[++j];
      if (e === "\\") v += "\\";
      else if (e === '"') v += '"';
      else if (e === "n") v += "\n";
      else throw new Error(`line ${line}: bad escape \\${e}`);
    }
    if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = v;
    at = j + 1;
    if (s[at] === ",") at++;
    else if (s[at] !== "}") throw new Error(`line ${line}: expected , or } after label ${name}`);
  }
  throw new Error(`line ${line}: unterminated label set`);
}

/** The family a sample name belongs to, given the family of the TYPE line above it. */
function belongs(sample: string, f: Family): boolean {
  if (sample === f.name) return f.type !== "histogram";
  if (f.type === "histogram")
    return [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(sample);
  if (f.type === "summary") return [`${f.name}_sum`, `${f.name}_count`].includes(sample);
  return false;
}

export function parsePromText(text: string): Exposition {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  let current: Family | undefined;
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const l = lines[n] as string;
    if (l.trim() === "") continue;
    if (l.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(l);
      if (!m) continue; // any other comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`line ${n + 1}: bad metric name "${name}"`);
      if (kind === "HELP") help.set(name, rest);
      else {
        if (!TYPES.has(rest)) throw new Error(`line ${n + 1}: bad type "${rest}"`);
        if (families.has(name)) throw new Error(`line ${n + 1}: ${name} declared twice`);
        current = { name, type: rest as MetricType, help: help.get(name) ?? "", samples: [] };
        families.set(name, current);
      }
      continue;
    }
    const nameEnd = l.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${n + 1}: no sample name`);
    const name = l.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`line ${n + 1}: bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    let at = nameEnd;
    if (l[at] === "{") [labels, at] = parseLabels(l, at, n + 1);
    if (l[at] !== " ") throw new Error(`line ${n + 1}: expected a space before the value`);
    const [v, ts, extra] = l.slice(at + 1).split(" ");
    if (v === undefined || extra !== undefined || (ts !== undefined && !/^-?\d+$/.test(ts)))
      throw new Error(`line ${n + 1}: bad value or timestamp`);
    if (!current || !belongs(name, current))
      throw new Error(`line ${n + 1}: ${name} is not in the family of the TYPE line above it`);
    const s: Sample = { name, labels, value: parseValue(v, n + 1) };
    current.samples.push(s);
    samples.push(s);
  }
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return { families, samples };
}

const seriesKey = (labels: Readonly<Record<string, string>>, without: string) =>
  JSON.stringify(
    Object.entries(labels)
      .filter(([k]) => k !== without)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );

function checkHistogram(f: Family): void {
  const buckets = new Map<string, Sample[]>();
  for (const s of f.samples) {
    if (s.name !== `${f.name}_bucket`) continue;
    if (s.labels.le === undefined) throw new Error(`${f.name}: a bucket without le`);
    const k = seriesKey(s.labels, "le");
    buckets.set(k, [...(buckets.get(k) ?? []), s]);
  }
  for (const [k, bs] of buckets) {
    const les = bs.map((b) => parseValue(b.labels.le as string, 0));
    for (let i = 1; i < bs.length; i++) {
      if (!((les[i] as number) > (les[i - 1] as number))) throw new Error(`${f.name}: le not increasing`);
      if ((bs[i] as Sample).value < (bs[i - 1] as Sample).value)
        throw new Error(`${f.name}: buckets not cumulative`);
    }
    const last = bs[bs.length - 1] as Sample;
    if (last.labels.le !== "+Inf") throw new Error(`${f.name}: no +Inf bucket for ${k}`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && seriesKey(s.labels, "") === k);
    if (!count || count.value !== last.value)
      throw new Error(`${f.name}: _count is not the +Inf bucket for ${k}`);
  }
}

/** Samples named `name` whose labels include every pair of `match`. */
export function select(e: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of the samples `select` finds (0 when none). */
export function total(e: Exposition, name: string, match: Record<string, string> = {}): number {
  return select(e, name, match).reduce((a, s) => a + s.value, 0);
}

/** The one sample with exactly these labels; undefined when there is none. */
export function value(e: Exposition, name: string, labels: Record<string, string>): number | undefined {
  const want = seriesKey(labels, "");
  return e.samples.find((s) => s.name === name && seriesKey(s.labels, "") === want)?.value;
}
