// The SIP benchmark's figures per target, the Trunkline / Kamailio ratios, issue 13's bar,
// and the Markdown report written beside the JSON.
import { fmt, ratio, round } from "../lib/stats.ts";
import type { RampSettings, StepResult } from "./ramp.ts";
import { variant } from "./variant.ts";

export interface TargetResult {
  name: string;
  note: string;
  /** Why the target did not run (its first error line); null when it ran. */
  unavailable: string | null;
  workers: { receivers: number; processes: number } | null;
  /** The proxy's memory once ready, before the first call (KiB). */
  idle: { pss_kib: number; rss_kib: number } | null;
  steps: StepResult[];
}

export interface Summary {
  target: string;
  /** The highest passing step's rate; 0 when none passed; null when the target did not run. */
  sustained: number | null;
  /** Every step passed up to BENCH_SIP_MAX: the rate is a floor, not the limit. */
  reached_max: boolean;
  stopped_by: string | null;
  proxy_cpu_us_per_call: number | null;
  proxy_user_us_per_call: number | null;
  proxy_system_us_per_call: number | null;
  proxy_cpu_pct: number | null;
  answerers_cpu_us_per_call: number | null;
  caller_cpu_us_per_call: number | null;
  /** Proxy + answerers + caller, in cores, at the sustained step. */
  measured_cores: number | null;
  /** rate × hold at the sustained step. */
  calls_in_progress: number | null;
  /** (memory at that step's plateau − idle) / calls in progress, PSS and RSS, KiB. */
  kib_per_call_in_progress: number | null;
  rss_kib_per_call_in_progress: number | null;
  /** How much its log grew per call at the sustained step (else its first step). */
  log_bytes_per_call: number | null;
}

/** A proxy whose log grows by this much per call writes a line per call (either proxy's is 150+ bytes). */
export const LOGS_PER_CALL_BYTES = 20;

/** Whether the target writes a line per call, read from its log's growth; null when unknown. */
export function logsPerCall(x: Summary | undefined): boolean | null {
  return x?.log_bytes_per_call == null ? null : x.log_bytes_per_call >= LOGS_PER_CALL_BYTES;
}

export function summarise(t: TargetResult, s: RampSettings): Summary {
  const best = t.steps.filter((x) => x.passed).at(-1);
  const failed = t.steps.find((x) => !x.passed);
  const inProgress = best ? (best.rate * s.holdMs) / 1000 : null;
  const growth = (key: "pss_kib" | "rss_kib") => {
    const at = best?.plateau?.[key];
    return typeof at === "number" && t.idle && inProgress ? round((at - t.idle[key]) / inProgress, 3) : null;
  };
  return {
    target: t.name,
    sustained: t.unavailable !== null ? null : (best?.rate ?? 0),
    reached_max: t.unavailable === null && failed === undefined && best !== undefined,
    stopped_by: failed
      ? `${failed.rate}/s: ${failed.reason}${failed.proxy_peak_cores == null ? "" : ` (busiest proxy process at ${failed.proxy_peak_cores.toFixed(2)} of a core)`}`
      : null,
    proxy_cpu_us_per_call: best?.proxy_cpu_us_per_call ?? null,
    proxy_user_us_per_call: best?.proxy_user_us_per_call ?? null,
    proxy_system_us_per_call: best?.proxy_system_us_per_call ?? null,
    proxy_cpu_pct: best?.proxy_cpu_pct ?? null,
    answerers_cpu_us_per_call: best?.answerers_cpu_us_per_call ?? null,
    caller_cpu_us_per_call: best?.caller_cpu_us_per_call ?? null,
    measured_cores: best?.measured_cores ?? null,
    calls_in_progress: t.name === "direct" ? null : inProgress,
    kib_per_call_in_progress: t.name === "direct" ? null : growth("pss_kib"),
    rss_kib_per_call_in_progress: t.name === "direct" ? null : growth("rss_kib"),
    log_bytes_per_call: (best ?? t.steps[0])?.log_bytes_per_call ?? null,
  };
}

export interface Ratios {
  trunkline: string;
  /** The Kamailio target it is held against (peerOf), or kamailio-dlg / -cdr (like for like). */
  against: string | null;
  /** Who of the two writes a line per call (read from their logs' growth). */
  logging: string;
  sustained: number | null;
  cpu_per_call: number | null;
  kib_per_call_in_progress: number | null;
  /** CPU per call over the relay's (bench/sip/relay.mjs): what Trunkline costs above Node's floor. */
  cpu_per_call_vs_relay: number | null;
  /** Issue 13's bar: Trunkline sustains at least Kamailio's rate, failover on. */
  bar: "PASS" | "FAIL" | "n/a";
}

export function ratios(sums: readonly Summary[]): Ratios[] {
  const relay = sums.find((x) => x.target === "relay");
  // Like for like: every one-thread Trunkline target also against Kamailio tracking its calls
  // in the dialog module (kamailio-dlg), and with that a CDR line per call (kamailio-cdr).
  const alike = sums.filter(
    (x) => (x.target === "kamailio-dlg" || x.target === "kamailio-cdr") && x.sustained !== null,
  );
  return sums
    .filter((x) => x.target.startsWith("trunkline"))
    .flatMap((t) => {
      const k = peerOf(sums, t.target);
      const also = variant(t.target).threads === 1 ? alike : [];
      return [k, ...also].map((peer) => ({ t, k: peer }));
    })
    .map(({ t, k }) => ({
      trunkline: t.target,
      against: k?.target ?? null,
      logging: whoLogs(logsPerCall(t), logsPerCall(k)),
      sustained: ratio(t.sustained, k?.sustained),
      cpu_per_call: ratio(t.proxy_cpu_us_per_call, k?.proxy_cpu_us_per_call),
      kib_per_call_in_progress: ratio(t.kib_per_call_in_progress, k?.kib_per_call_in_progress),
      cpu_per_call_vs_relay: ratio(t.proxy_cpu_us_per_call, relay?.proxy_cpu_us_per_call),
      // Kamailio sustaining no step (its first failed) says nothing of the bar: 0 ≥ 0 is no pass.
      bar:
        t.sustained === null || k === undefined || k.sustained === null || k.sustained <= 0
          ? "n/a"
          : t.sustained >= k.sustained
            ? "PASS"
            : "FAIL",
    }));
}

function whoLogs(t: boolean | null, k: boolean | null): string {
  if (t === null || k === null) return "unknown";
  return t && k ? "both" : !t && !k ? "neither" : t ? "Trunkline only" : "Kamailio only";
}

/**
 * The Kamailio a Trunkline target is held against: `kamailio-cN` for `…-wN` (N threads
 * against N UDP receivers) when it ran, else `kamailio` (one receiver).
 */
function peerOf(sums: readonly Summary[], target: string): Summary | undefined {
  const { threads } = variant(target);
  return (
    (threads > 1 ? sums.find((x) => x.target === `kamailio-c${threads}`) : undefined) ??
    sums.find((x) => x.target === "kamailio")
  );
}

export interface Report {
  date: string;
  machine: Record<string, string | number>;
  settings: RampSettings & { targets: string[] };
  summaries: Summary[];
  ratios: Ratios[];
  targets: TargetResult[];
  notes: string[];
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;

export function markdown(r: Report): string {
  const s = r.settings;
  const m = r.machine;
  const out: string[] = [
    `# SIP benchmark, ${r.date}`,
    "",
    `${m.cores} cores (${m.cpu}), Node ${m.node}, ${m.kamailio}, ${m.sipp}; load average at start ${m.load_average_at_start}.`,
    `Ramp ${s.start} to ${s.max} calls/s by ${s.step}, ${s.stepSeconds} s steps, the targets interleaved (at each rate each target still passing runs its step), calls held ${s.holdMs} ms; a step passes with every call completed, no failed call and no retransmission on either side.`,
    "",
    row([
      "target",
      "sustained calls/s",
      "proxy CPU µs/call",
      "user",
      "system",
      "proxy % core",
      "KiB/call in progress (PSS)",
      "answerers µs/call",
      "caller µs/call",
      "cores used (all 3)",
      "log B/call",
      "stopped by",
    ]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"]),
  ];
  for (const x of r.summaries) {
    const t = r.targets.find((y) => y.name === x.target);
    if (t?.unavailable) {
      out.push(
        row([x.target, `unavailable: ${t.unavailable.replace(/\|/g, "\\|")}`, ...Array(10).fill("—")]),
      );
      continue;
    }
    out.push(
      row([
        x.target,
        `${x.reached_max ? "≥ " : ""}${x.sustained}`,
        fmt(x.proxy_cpu_us_per_call, 1),
        fmt(x.proxy_user_us_per_call, 1),
        fmt(x.proxy_system_us_per_call, 1),
        fmt(x.proxy_cpu_pct, 1),
        fmt(x.kib_per_call_in_progress, 3),
        fmt(x.answerers_cpu_us_per_call, 1),
        fmt(x.caller_cpu_us_per_call, 1),
        fmt(x.measured_cores, 2),
        fmt(x.log_bytes_per_call, 0),
        (x.stopped_by ?? (x.reached_max ? "BENCH_SIP_MAX" : "—")).replace(/\|/g, "\\|"),
      ]),
    );
  }
  out.push("", "Trunkline / Kamailio:", "");
  out.push(
    row([
      "variant",
      "against",
      "line per call",
      "sustained calls/s",
      "CPU/call",
      "KiB/call in progress",
      "CPU/call ÷ relay's",
      "bar: rate ≥ Kamailio's",
    ]),
  );
  out.push(row(["---", "---", "---", "---:", "---:", "---:", "---:", "---"]));
  for (const q of r.ratios)
    out.push(
      row([
        q.trunkline,
        q.against ?? "—",
        q.logging,
        fmt(q.sustained, 3),
        fmt(q.cpu_per_call, 3),
        fmt(q.kib_per_call_in_progress, 3),
        fmt(q.cpu_per_call_vs_relay, 3),
        q.bar,
      ]),
    );
  out.push("", "Every step:", "");
  out.push(
    row([
      "target",
      "rate",
      "sent/s",
      "ok",
      "failed",
      "retrans (caller/answerers)",
      "s",
      "proxy µs/call",
      "proxy % core",
      "peak cores (busiest process, 1 s)",
      "drops (proxy/answerers)",
      "SIPp open calls",
      "result",
    ]),
  );
  out.push(row(["---", ...Array<string>(11).fill("---:"), "---"]));
  for (const t of r.targets)
    for (const x of t.steps)
      out.push(
        row([
          t.name,
          x.rate,
          fmt(x.sent_rate, 0),
          x.successful,
          x.failed + x.answerer_failed,
          `${x.retransmissions}/${x.answerer_retransmissions}`,
          fmt(x.seconds, 1),
          fmt(x.proxy_cpu_us_per_call, 1),
          fmt(x.proxy_cpu_pct, 1),
          fmt(x.proxy_peak_cores ?? null, 2),
          `${x.drops.proxy ?? "—"}/${x.drops.answerers}`,
          x.plateau?.sipp_current_calls ?? "—",
          x.passed ? "pass" : `FAIL: ${x.reason}`,
        ]),
      );
  if (r.notes.length > 0) out.push("", "Notes:", "", ...r.notes.map((n) => `- ${n}`));
  return `${out.join("\n")}\n`;
}
