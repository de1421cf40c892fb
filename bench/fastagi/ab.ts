// A/B rounds: two variants of Trunkline in one run (another build, or metrics on / off).

export interface AbVariant {
  name: string;
  note: string;
  /** Another build's dist/cli/main.js; this build's when undefined. */
  main?: string;
  env?: NodeJS.ProcessEnv;
}

export interface AbPair {
  kind: "baseline" | "metrics";
  label: string;
  a: AbVariant;
  b: AbVariant;
}

/** The two variants an A/B run alternates (A is measured against B), if one is asked for. */
export function abPair(): AbPair | undefined {
  const baseline = process.env.BENCH_BASELINE;
  const metrics = process.env.BENCH_METRICS_AB === "1";
  if (baseline && metrics) throw new Error("BENCH_BASELINE and BENCH_METRICS_AB=1 cannot be combined");
  if (baseline)
    return {
      kind: "baseline",
      label: "CPU/session this build / baseline (medians of A/B rounds)",
      a: { name: "trunkline", note: "this build" },
      b: { name: "baseline", note: "baseline build", main: baseline },
    };
  if (!metrics) return undefined;
  const { TRUNKLINE_METRICS: _, ...on } = process.env;
  return {
    kind: "metrics",
    label: "CPU/session metrics on / off (medians of A/B rounds)",
    a: { name: "metrics-on", note: "this build, metrics on", env: on },
    b: {
      name: "metrics-off",
      note: "this build, TRUNKLINE_METRICS=off",
      env: { ...on, TRUNKLINE_METRICS: "off" },
    },
  };
}

/** ABBA order over `rounds` pairs: B A, A B, B A, … */
export function abOrder(round: number): ("a" | "b")[] {
  return round % 2 === 1 ? ["b", "a"] : ["a", "b"];
}

/** The kind (summary key) of an A/B variant's runs: never "trunkline", whose medians it would join. */
export const abKind = (v: AbVariant) => `${v.name}-ab`;
