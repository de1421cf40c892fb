// What `--workers N` adds to the report: the ratios of N threads over 1 (Trunkline and
// HAProxy), issue 15's bar on CPU per session, the notes, and each thread's sessions.
import { cpus } from "node:os";
import { fmt, ratio } from "../lib/stats.ts";
import type { Ratios, Summary, Verdict } from "./analysis.ts";
import type { RunResult } from "./measure.ts";
import {
  describeThreads,
  haproxyThreads,
  type ThreadSessions,
  threadProblem,
  trunklineWorkers,
  type WorkersSetup,
} from "./workers.ts";

/** Issue 15: CPU per session with N workers at most 1.10× that with 1. */
export const MAX_WORKERS_CPU_GROWTH = 1.1;

/** The JSON's `workers` section. */
export interface WorkersReport extends WorkersSetup {
  threads: ThreadSessions[];
}

/** The labels of the ratios of N threads over 1 (also read by the verdicts). */
export const workersLabels = (n: number) => ({
  tScale: `sessions/s Trunkline workers ${n} / 1 (scaling)`,
  tCpu: `CPU/session Trunkline workers ${n} / 1`,
  tUser: `user/session Trunkline workers ${n} / 1`,
  tSystem: `system/session Trunkline workers ${n} / 1`,
  hScale: `sessions/s HAProxy nbthread ${n} / 1 (scaling)`,
  hCpu: `CPU/session HAProxy nbthread ${n} / 1`,
  vsRate: `sessions/s Trunkline workers ${n} / HAProxy nbthread ${n}`,
  vsCpu: `CPU/session Trunkline workers ${n} / HAProxy nbthread ${n}`,
});

/** Adds the N-over-1 ratios, per variant, to `out`. */
export function addWorkersRatios(out: Ratios, summaries: Summary[], variants: number[], n: number): void {
  const L = workersLabels(n);
  const put = (label: string, c: number, v: number | null) => {
    out[label] ??= {};
    (out[label] as Record<string, number | null>)[String(c)] = v;
  };
  for (const c of variants) {
    const s = (t: string) => summaries.find((x) => x.target === t && x.commands === c);
    const [t1, tn, h1, hn] = [s("trunkline"), s(trunklineWorkers(n)), s("haproxy"), s(haproxyThreads(n))];
    put(L.tScale, c, ratio(tn?.sessions_per_s, t1?.sessions_per_s));
    put(L.tCpu, c, ratio(tn?.cpu_ms_per_session, t1?.cpu_ms_per_session));
    put(L.tUser, c, ratio(tn?.user_ms_per_session, t1?.user_ms_per_session));
    put(L.tSystem, c, ratio(tn?.system_ms_per_session, t1?.system_ms_per_session));
    put(L.hScale, c, ratio(hn?.sessions_per_s, h1?.sessions_per_s));
    put(L.hCpu, c, ratio(hn?.cpu_ms_per_session, h1?.cpu_ms_per_session));
    put(L.vsRate, c, ratio(tn?.sessions_per_s, hn?.sessions_per_s));
    put(L.vsCpu, c, ratio(tn?.cpu_ms_per_session, hn?.cpu_ms_per_session));
  }
}

/** Issue 15's bar per variant, and whether every thread of every N-thread run took sessions. */
export function workersVerdicts(r: Ratios, variants: number[], w: WorkersReport): Verdict[] {
  const L = workersLabels(w.n);
  const out: Verdict[] = variants.map((c) => {
    const v = r[L.tCpu]?.[String(c)] ?? null;
    return {
      check: `CPU per session, Trunkline workers ${w.n} / 1 (issue 15)`,
      commands: c,
      bar: `≤ ${MAX_WORKERS_CPU_GROWTH.toFixed(2)}×`,
      value: v === null ? "n/a" : `${v.toFixed(3)}×`,
      pass: v === null ? null : v <= MAX_WORKERS_CPU_GROWTH,
    };
  });
  const runs = w.threads.filter((t) => t.want > 1);
  const bad = runs.filter((t) => threadProblem(t) !== undefined);
  out.push({
    check: `every one of the ${w.n} threads took sessions, in every ${trunklineWorkers(w.n)} run`,
    commands: null,
    bar: "all runs",
    value: `${runs.length - bad.length} of ${runs.length} runs`,
    pass: runs.length === 0 ? null : bad.length === 0,
  });
  return out;
}

const runName = (t: { target: string; round: number | null; commands: number }) =>
  `${t.target}${t.round === null ? "" : ` r${t.round}`} ${t.commands}c`;

/** What the reader needs to read the N-thread figures, and anything that makes them doubtful. */
export function workersNotes(runs: RunResult[], w: WorkersReport): string[] {
  const out = [
    `Trunkline (trunkline, ${trunklineWorkers(w.n)}, and its system-call and idle runs) ran on Node ${w.node.version}, ${w.node.source}: ${w.node.path}; the relay, the upstream and the load generator on the benchmark's Node ${process.version}`,
    `on this ${cpus().length}-core machine the load generator and the upstream share the cores with the proxy, so the N threads get no core of their own: the scaling (sessions/s N / 1) here says little about a machine with spare cores (measured when one is available); CPU per session N / 1 is what the threads cost`,
    `system calls and idle memory are not measured for ${trunklineWorkers(w.n)} and ${haproxyThreads(w.n)}`,
  ];
  for (const t of w.threads) {
    const p = threadProblem(t);
    if (p) out.push(`${runName(t)}: ${p} (${describeThreads(t)})`);
  }
  // The two runs of a round share the machine's state: their ratio shows the spread the
  // medians hide.
  for (const c of new Set(runs.map((r) => r.commands))) {
    const pairs: string[] = [];
    for (const n of new Set(runs.filter((r) => r.round !== null).map((r) => r.round))) {
      const of = (k: string) => runs.find((r) => r.kind === k && r.commands === c && r.round === n);
      const one = of("trunkline");
      const many = of(trunklineWorkers(w.n));
      const rate = ratio(many?.sessions_per_s, one?.sessions_per_s);
      const cpu = ratio(many?.cpu_ms_per_session, one?.cpu_ms_per_session);
      if (rate !== null && cpu !== null)
        pairs.push(`round ${n}: ${fmt(rate, 2)}× sessions/s, ${fmt(cpu, 2)}× CPU`);
    }
    if (pairs.length > 0)
      out.push(`${c} commands, Trunkline workers ${w.n} / 1 round by round: ${pairs.join("; ")}`);
  }
  return out;
}

/** The report's section: each Trunkline run's sessions per thread. */
export function workersMarkdown(w: WorkersReport): string[] {
  const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [
    `## Sessions per thread (admin API /api/v1/status, over each proxy's life: warm-up, window, drain)`,
    "",
    row(["run", "workers", "sessions started per thread (share)", "every thread took sessions"]),
    row(["---", "---:", "---", "---"]),
    ...w.threads.map((t) =>
      row([runName(t), t.want, describeThreads(t), t.want <= 1 ? "—" : (threadProblem(t) ?? "yes")]),
    ),
  ];
}
