// The bar's comparisons (issue 14: Trunkline's requests/s ≥ 0.6× HAProxy's). Each Trunkline
// target is set against each HAProxy target that does the same work: both writing an access
// line per request (trunkline, trunkline-node24… against haproxy-log), or neither
// (trunkline-nolog against haproxy). The old comparison, Trunkline writing its line and
// HAProxy none, is kept beside them. Whether a target logs is what it was seen to do: its
// stdout grew by a line's worth per request. Pure: rounds in, verdicts out.
import { median, ratio } from "../lib/stats.ts";

export const BAR = 0.6;

export interface Comparison {
  trunkline: string;
  haproxy: string;
  /** What the two do alike, or not, for the reader. */
  kind: "like for like, both log" | "like for like, neither logs" | "Trunkline logs, HAProxy does not";
  /** The medians' ratio. */
  ratio: number | null;
  /** Round by round (a round runs every target once): median, lowest, highest. */
  sameRound: { median: number | null; min: number | null; max: number | null };
  pass: boolean | null;
}

/** Fewer bytes of stdout per request than this: the target writes no access line. */
export const LINE_BYTES = 20;

export interface Measured {
  /** Requests/s, round by round (null: the round failed). */
  readonly rps: readonly (number | null)[];
  /** Its stdout's growth per request (null: not measured). */
  readonly logBytesPerReq: number | null;
}

/** Which comparison two targets make, or none (HAProxy logging and Trunkline not: not kept). */
function kindOf(tlLogs: boolean, hpLogs: boolean): Comparison["kind"] | undefined {
  if (tlLogs && hpLogs) return "like for like, both log";
  if (!tlLogs && !hpLogs) return "like for like, neither logs";
  return tlLogs ? "Trunkline logs, HAProxy does not" : undefined;
}

/** Every comparison that the targets run allow, like for like first. */
export function comparisons(measured: ReadonlyMap<string, Measured>): Comparison[] {
  const out: Comparison[] = [];
  const names = [...measured.keys()];
  const logs = (t: string) => (measured.get(t)?.logBytesPerReq ?? 0) >= LINE_BYTES;
  for (const tl of names.filter((t) => t.startsWith("trunkline"))) {
    for (const hp of names.filter((t) => t.startsWith("haproxy"))) {
      const kind = kindOf(logs(tl), logs(hp));
      const a = measured.get(tl)?.rps;
      const b = measured.get(hp)?.rps;
      if (kind === undefined || a === undefined || b === undefined) continue;
      const r = ratio(median(a), median(b));
      const paired = a.map((x, i) => ratio(x, b[i])).filter((x): x is number => x !== null);
      out.push({
        trunkline: tl,
        haproxy: hp,
        kind,
        ratio: r,
        sameRound: {
          median: median(paired),
          min: paired.length > 0 ? Math.min(...paired) : null,
          max: paired.length > 0 ? Math.max(...paired) : null,
        },
        pass: r === null ? null : r >= BAR,
      });
    }
  }
  const rank = (c: Comparison) =>
    c.kind === "like for like, both log" ? 0 : c.kind.startsWith("like") ? 1 : 2;
  return out.sort((x, y) => rank(x) - rank(y));
}

/** One line per comparison, for the report and the console. */
export function describe(c: Comparison): string {
  const verdict = c.pass === null ? "not measured" : c.pass ? "PASS" : "FAIL";
  const same = c.sameRound.median === null ? "—" : `${c.sameRound.median.toFixed(3)}×`;
  const range =
    c.sameRound.min === null || c.sameRound.max === null
      ? ""
      : `, rounds ${c.sameRound.min.toFixed(2)}–${c.sameRound.max.toFixed(2)}`;
  const r = c.ratio === null ? "—" : `${c.ratio.toFixed(3)}×`;
  return `${c.trunkline} / ${c.haproxy} (${c.kind}): ${r} → ${verdict} (same round ${same}${range})`;
}
