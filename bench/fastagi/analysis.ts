// From the raw runs to what the report says: medians per target and variant, the ratios,
// the verdicts of the bars, and the notes on anything that makes a figure doubtful.
import { cpus } from "node:os";
import { fmt, median, ratio, round } from "../lib/stats.ts";
import type { IdleResult } from "./idle.ts";
import type { RunResult } from "./measure.ts";
import type { StraceResult } from "./strace.ts";

/** The bars of issue 12, and of issue 11 for the cost of metrics. */
export const BAR = { maxCpuVsHaproxy: 1.6, minRateVsHaproxy: 0.9, maxIdleKiB: 20, maxMetricsCost: 1.05 };

/** Medians over the rounds of one target and variant. */
export interface Summary {
  target: string;
  commands: number;
  runs: number;
  sessions_per_s: number | null;
  rtt_p50_ms: number | null;
  rtt_p99_ms: number | null;
  setup_p50_ms: number | null;
  setup_p99_ms: number | null;
  cpu_ms_per_session: number | null;
  user_ms_per_session: number | null;
  system_ms_per_session: number | null;
  log_bytes_per_session: number | null;
  proxy_cpu_pct: number | null;
  /** Sums over the rounds. */
  errors: number;
  upstream_closed: number;
  upstream_late_hangups: number;
}

export interface Verdict {
  check: string;
  commands: number | null;
  bar: string;
  value: string;
  pass: boolean | null;
}

export function summarise(runs: RunResult[]): Summary[] {
  const keys = [...new Set(runs.map((r) => `${r.kind}\u0000${r.commands}`))];
  return keys.map((k) => {
    const [target = "", c = "0"] = k.split("\u0000");
    const rs = runs.filter((r) => r.kind === target && r.commands === Number(c));
    const med = (f: (r: RunResult) => number | null, d = 4) => {
      const m = median(rs.map(f));
      return m === null ? null : round(m, d);
    };
    const sum = (f: (r: RunResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    return {
      target,
      commands: Number(c),
      runs: rs.length,
      sessions_per_s: med((r) => r.sessions_per_s, 1),
      rtt_p50_ms: med((r) => r.rtt_p50_ms, 3),
      rtt_p99_ms: med((r) => r.rtt_p99_ms, 3),
      setup_p50_ms: med((r) => r.setup_p50_ms, 3),
      setup_p99_ms: med((r) => r.setup_p99_ms, 3),
      cpu_ms_per_session: med((r) => r.cpu_ms_per_session),
      user_ms_per_session: med((r) => r.user_ms_per_session),
      system_ms_per_session: med((r) => r.system_ms_per_session),
      log_bytes_per_session: med((r) => r.log_bytes_per_session, 1),
      proxy_cpu_pct: med((r) => r.proxy_cpu_pct, 1),
      errors: sum((r) => r.errors),
      upstream_closed: sum((r) => r.upstream_closed),
      upstream_late_hangups: sum((r) => r.upstream_late_hangups),
    };
  });
}

/** Ratios by label, then by commands per session. */
export type Ratios = Record<string, Record<string, number | null>>;

export function ratios(
  summaries: Summary[],
  straces: StraceResult[],
  variants: number[],
  ab: { label: string; a: string; b: string } | undefined,
): Ratios {
  const out: Ratios = {};
  const put = (label: string, c: number, v: number | null) => {
    out[label] ??= {};
    (out[label] as Record<string, number | null>)[String(c)] = v;
  };
  for (const c of variants) {
    const s = (t: string) => summaries.find((x) => x.target === t && x.commands === c);
    const calls = (t: string) => straces.find((x) => x.target === t && x.commands === c)?.calls_per_session;
    const [d, rl, t, h] = [s("direct"), s("relay"), s("trunkline"), s("haproxy")];
    const lean = s("relay-lean");
    put("sessions/s Trunkline / direct", c, ratio(t?.sessions_per_s, d?.sessions_per_s));
    put("sessions/s Trunkline / HAProxy", c, ratio(t?.sessions_per_s, h?.sessions_per_s));
    put("sessions/s HAProxy / direct", c, ratio(h?.sessions_per_s, d?.sessions_per_s));
    put("sessions/s relay / direct", c, ratio(rl?.sessions_per_s, d?.sessions_per_s));
    put("sessions/s relay-lean / HAProxy", c, ratio(lean?.sessions_per_s, h?.sessions_per_s));
    put("CPU/session Trunkline / HAProxy", c, ratio(t?.cpu_ms_per_session, h?.cpu_ms_per_session));
    put("CPU/session Trunkline / relay", c, ratio(t?.cpu_ms_per_session, rl?.cpu_ms_per_session));
    put("CPU/session relay / HAProxy", c, ratio(rl?.cpu_ms_per_session, h?.cpu_ms_per_session));
    put("CPU/session relay-lean / HAProxy", c, ratio(lean?.cpu_ms_per_session, h?.cpu_ms_per_session));
    put("CPU/session relay-lean / relay", c, ratio(lean?.cpu_ms_per_session, rl?.cpu_ms_per_session));
    put("CPU/session Trunkline / relay-lean", c, ratio(t?.cpu_ms_per_session, lean?.cpu_ms_per_session));
    const batch = s("relay-batch");
    put("sessions/s relay-batch / HAProxy", c, ratio(batch?.sessions_per_s, h?.sessions_per_s));
    put("CPU/session relay-batch / HAProxy", c, ratio(batch?.cpu_ms_per_session, h?.cpu_ms_per_session));
    put(
      "CPU/session relay-batch / relay-lean",
      c,
      ratio(batch?.cpu_ms_per_session, lean?.cpu_ms_per_session),
    );
    put("user/session Trunkline / relay", c, ratio(t?.user_ms_per_session, rl?.user_ms_per_session));
    put("system/session Trunkline / relay", c, ratio(t?.system_ms_per_session, rl?.system_ms_per_session));
    put("RTT p50 Trunkline / direct", c, ratio(t?.rtt_p50_ms, d?.rtt_p50_ms));
    put("RTT p50 Trunkline / HAProxy", c, ratio(t?.rtt_p50_ms, h?.rtt_p50_ms));
    if (straces.length) {
      put("syscalls/session Trunkline / HAProxy", c, ratio(calls("trunkline"), calls("haproxy")));
      put("syscalls/session Trunkline / relay", c, ratio(calls("trunkline"), calls("relay")));
    }
    if (ab) put(ab.label, c, ratio(s(ab.a)?.cpu_ms_per_session, s(ab.b)?.cpu_ms_per_session));
  }
  return out;
}

export function verdicts(
  r: Ratios,
  variants: number[],
  idle: IdleResult | undefined,
  holdTarget: number,
  metricsLabel: string | undefined,
): Verdict[] {
  const out: Verdict[] = [];
  const x = (v: number | null, d = 2) => (v === null ? "n/a" : `${v.toFixed(d)}×`);
  for (const c of variants) {
    const cpu = r["CPU/session Trunkline / HAProxy"]?.[String(c)] ?? null;
    const rate = r["sessions/s Trunkline / HAProxy"]?.[String(c)] ?? null;
    out.push({
      check: "CPU per session, Trunkline / HAProxy",
      commands: c,
      bar: `≤ ${BAR.maxCpuVsHaproxy}×`,
      value: x(cpu),
      pass: cpu === null ? null : cpu <= BAR.maxCpuVsHaproxy,
    });
    out.push({
      check: "sessions/s, Trunkline / HAProxy",
      commands: c,
      bar: `≥ ${BAR.minRateVsHaproxy}×`,
      value: x(rate),
      pass: rate === null ? null : rate >= BAR.minRateVsHaproxy,
    });
    if (metricsLabel === undefined) continue;
    const cost = r[metricsLabel]?.[String(c)] ?? null;
    out.push({
      check: "metrics cost: CPU per session on / off (medians)",
      commands: c,
      bar: `≤ ${BAR.maxMetricsCost}×`,
      value: x(cost, 3),
      pass: cost === null ? null : cost <= BAR.maxMetricsCost,
    });
  }
  out.push({
    check: `idle session memory (${idle?.sessions_held ?? 0} open)`,
    commands: null,
    bar: `< ${BAR.maxIdleKiB} KiB`,
    value: idle ? `${idle.kib_per_session.toFixed(2)} KiB` : "n/a",
    pass: idle ? idle.kib_per_session < BAR.maxIdleKiB && idle.sessions_held >= holdTarget : null,
  });
  return out;
}

const runName = (r: RunResult) => `${r.target}${r.round === null ? "" : ` r${r.round}`} ${r.commands}c`;

/** What may make a figure doubtful, and what the reader should know to read the tables. */
export function notes(
  runs: RunResult[],
  summaries: Summary[],
  straces: StraceResult[],
  idle: IdleResult[],
): string[] {
  const out: string[] = [];
  const list = (rs: RunResult[], f: (r: RunResult) => string) =>
    rs.map((r) => `${runName(r)} ${f(r)}`).join(", ");
  const lgBusy = runs.filter((r) => r.loadgen_cpu_pct >= 90);
  if (lgBusy.length)
    out.push(
      `the load generator used ≥ 90 % of a core (it may be the limit of these runs): ${list(lgBusy, (r) => `${r.loadgen_cpu_pct} %`)}`,
    );
  const upBusy = runs.filter((r) => r.upstream_cpu_pct >= 90);
  if (upBusy.length)
    out.push(`the upstream used ≥ 90 % of a core: ${list(upBusy, (r) => `${r.upstream_cpu_pct} %`)}`);
  const full = runs.filter((r) => r.machine_busy_cores >= 0.9 * cpus().length);
  if (full.length)
    out.push(
      `all cores were busy in ${full.length} of ${runs.length} runs: the processes shared the cores, so sessions/s depends on the scheduler; CPU per session does not`,
    );
  const others = runs.filter((r) => r.other_busy_cores >= 0.25);
  if (others.length)
    out.push(
      `other work on the machine used ≥ 0.25 cores in ${others.length} of ${runs.length} runs (figures noisy, rerun on a quiet machine to confirm): ${list(others, (r) => `${r.other_busy_cores}`)}`,
    );
  for (const r of runs) {
    if (r.errors > 0) out.push(`${runName(r)}: ${r.errors} errors ${JSON.stringify(r.error_kinds)}`);
    if (r.upstream_late_hangups < r.upstream_closed)
      out.push(
        `${runName(r)}: the upstream closed ${r.upstream_closed} sessions but received only ${r.upstream_late_hangups} late HANGUPs`,
      );
    if (r.proxy_fds_left !== null && r.proxy_fds_left > 0)
      out.push(
        `${runName(r)}: the proxy still held ${r.proxy_fds_left} more descriptors 2 s after the load ended`,
      );
    if (r.unfinished_at_exit > 0)
      out.push(`${runName(r)}: ${r.unfinished_at_exit} sessions were unfinished 3 s after the window`);
  }
  for (const c of new Set(summaries.map((s) => s.commands))) {
    const d = summaries.find((s) => s.target === "direct" && s.commands === c);
    const fastest = Math.max(
      ...summaries.filter((s) => s.commands === c && s.target !== "direct").map((s) => s.sessions_per_s ?? 0),
    );
    if (!d?.sessions_per_s || !(fastest > 0)) continue;
    const headroom = round(d.sessions_per_s / fastest, 2);
    out.push(
      headroom >= 1.2
        ? `${c} commands: direct runs ${headroom}× the fastest proxy: the load generator and upstream are not what limits the proxy runs`
        : `${c} commands: direct runs only ${headroom}× the fastest proxy: the load generator and upstream may bound sessions/s; compare the proxies by CPU per session`,
    );
  }
  // The same round's pair moves together with the machine: its ratio shows the spread the
  // medians hide.
  for (const c of new Set(runs.map((r) => r.commands))) {
    const pairs: string[] = [];
    for (const n of new Set(runs.filter((r) => r.round !== null).map((r) => r.round))) {
      const of = (k: string) => runs.find((r) => r.kind === k && r.commands === c && r.round === n);
      const t = of("trunkline");
      const h = of("haproxy");
      const rate = ratio(t?.sessions_per_s, h?.sessions_per_s);
      const cpu = ratio(t?.cpu_ms_per_session, h?.cpu_ms_per_session);
      if (rate !== null && cpu !== null)
        pairs.push(`round ${n}: ${fmt(rate, 2)}× sessions/s, ${fmt(cpu, 2)}× CPU`);
    }
    if (pairs.length > 0) out.push(`${c} commands, Trunkline / HAProxy round by round: ${pairs.join("; ")}`);
  }
  for (const s of straces)
    if (s.error) out.push(`syscalls of ${s.target} ${s.commands}c: n/a (${s.error.split("\n")[0]})`);
  for (const i of idle)
    if (i.hold_errors > 0) out.push(`idle ${i.target}: ${i.hold_errors} sessions failed to open`);
  const t = summaries.filter((s) => s.target === "trunkline");
  if (t.length)
    out.push(
      `Trunkline's log (its stdout, to a file): ${t.map((s) => `${fmt(s.log_bytes_per_session, 1)} bytes/session at ${s.commands} commands`).join(", ")} (medians)`,
    );
  return out;
}
