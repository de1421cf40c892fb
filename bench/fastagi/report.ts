// The markdown of a run (bench/results/fastagi-latest.md); the JSON holds everything.
import { fmt } from "../lib/stats.ts";
import type { Ratios, Summary, Verdict } from "./analysis.ts";
import type { IdleResult } from "./idle.ts";
import type { RunResult, Settings } from "./measure.ts";
import { type StraceResult, SYSCALL_GROUPS } from "./strace.ts";
import { haproxyThreads, trunklineWorkers } from "./workers.ts";
import { type WorkersReport, workersMarkdown } from "./workers-report.ts";

export interface Report {
  date: string;
  machine: Record<string, string | number>;
  settings: Settings;
  summaries: Summary[];
  ratios: Ratios;
  runs: RunResult[];
  syscalls: StraceResult[];
  idle: IdleResult[];
  verdicts: Verdict[];
  notes: string[];
  /** With --workers N. */
  workers?: WorkersReport;
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const head = (cols: string[], align: string[]) => [row(cols), row(align)];

function mediansTable(r: Report): string[] {
  return [
    ...head(
      [
        "target",
        "cmds",
        "sessions/s",
        "RTT p50 ms",
        "RTT p99 ms",
        "setup p50 ms",
        "setup p99 ms",
        "CPU ms/session",
        "user ms/session",
        "system ms/session",
        "log B/session",
        "proxy CPU %",
        "errors",
        "late HANGUPs / closed",
      ],
      [
        "---",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
        "---:",
      ],
    ),
    ...r.summaries.map((s) =>
      row([
        s.target,
        s.commands,
        fmt(s.sessions_per_s, 0),
        fmt(s.rtt_p50_ms, 3),
        fmt(s.rtt_p99_ms, 3),
        fmt(s.setup_p50_ms, 3),
        fmt(s.setup_p99_ms, 3),
        fmt(s.cpu_ms_per_session, 4),
        fmt(s.user_ms_per_session, 4),
        fmt(s.system_ms_per_session, 4),
        fmt(s.log_bytes_per_session, 1),
        fmt(s.proxy_cpu_pct, 1),
        s.errors,
        `${s.upstream_late_hangups} / ${s.upstream_closed}`,
      ]),
    ),
  ];
}

function roundsTable(r: Report): string[] {
  return [
    ...head(
      [
        "run",
        "cmds",
        "sessions/s",
        "CPU ms/s.",
        "user",
        "system",
        "RTT p50",
        "proxy %",
        "upstream %",
        "loadgen %",
        "busy cores",
        "others",
        "errors",
      ],
      ["---", ...Array<string>(12).fill("---:")],
    ),
    ...r.runs.map((x) =>
      row([
        x.round === null ? x.target : `r${x.round} ${x.target}`,
        x.commands,
        fmt(x.sessions_per_s, 0),
        fmt(x.cpu_ms_per_session, 4),
        fmt(x.user_ms_per_session, 4),
        fmt(x.system_ms_per_session, 4),
        fmt(x.rtt_p50_ms, 3),
        fmt(x.proxy_cpu_pct, 1),
        fmt(x.upstream_cpu_pct, 1),
        fmt(x.loadgen_cpu_pct, 1),
        fmt(x.machine_busy_cores, 2),
        fmt(x.other_busy_cores, 2),
        x.errors,
      ]),
    ),
  ];
}

function syscallTable(r: Report): string[] {
  const groups = [...SYSCALL_GROUPS.map(([g]) => g), "others"];
  return [
    ...head(
      ["target", "cmds", "sessions (s/s)", "total/session", ...groups],
      ["---", "---:", "---:", "---:", ...groups.map(() => "---:")],
    ),
    ...r.syscalls.map((s) =>
      row([
        s.target,
        s.commands,
        `${s.sessions} (${fmt(s.sessions_per_s, 0)})`,
        fmt(s.calls_per_session, 2),
        ...groups.map((g) => fmt(s.groups?.[g], 2)),
      ]),
    ),
  ];
}

export function markdown(r: Report): string {
  const m = r.machine;
  const s = r.settings;
  const variants = s.variants;
  const w = r.workers;
  return [
    `# FastAGI benchmark — ${r.date}`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, Linux ${m.kernel}, Node ${m.node}, ${m.haproxy}, ${m.strace}; load average at start ${m.load_average_at_start}.`,
    `Load: ${s.concurrency} concurrent sessions, ${s.warmup} s warm-up + ${s.seconds} s measured per run, ${s.rounds} rounds of every target (order rotated each round), variants of ${variants.join(" and ")} commands per session. Each session is played as Asterisk 23.4.1 does: no TCP_NODELAY, the header one line per write, each reply its own write, \`HANGUP\` after the server's close, then close.`,
    `Trunkline at its defaults: log level ${s.log_level ?? "info (default)"}, metrics on; its stdout goes to a file. One Node thread (plus V8/libuv helper threads, counted in its CPU); HAProxy runs with \`nbthread 1\`; relay = bare Node \`pipe()\` relay.`,
    ...(w
      ? [
          `With \`--workers ${w.n}\`: \`trunkline\` runs \`workers: 1\` and \`${trunklineWorkers(w.n)}\` \`workers: ${w.n}\` (both with \`admin:\` on loopback, both on Node ${w.node.version}, ${w.node.source}); \`${haproxyThreads(w.n)}\` is HAProxy with \`nbthread ${w.n}\`. CPU is the whole process's, all threads. On this ${m.cores}-core machine the load generator and the upstream share the cores with the proxy.`,
        ]
      : []),
    "",
    `## Medians over ${s.rounds} rounds`,
    "",
    ...mediansTable(r),
    "",
    "## Ratios (of the medians)",
    "",
    ...head(["ratio", ...variants.map((c) => `${c} commands`)], ["---", ...variants.map(() => "---:")]),
    ...Object.entries(r.ratios).map(([k, v]) => row([k, ...variants.map((c) => fmt(v[String(c)], 3))])),
    "",
    `## Bars (issue 12${w ? " and issue 15" : ""})`,
    "",
    ...head(["bar", "cmds", "required", "measured", "verdict"], ["---", "---", "---", "---", "---"]),
    ...r.verdicts.map((v) =>
      row([v.check, v.commands ?? "—", v.bar, v.value, v.pass === null ? "n/a" : v.pass ? "PASS" : "FAIL"]),
    ),
    "",
    `## System calls per session (strace -c -f, ${s.strace_seconds} s windows apart from the CPU runs)`,
    "",
    ...(r.syscalls.length ? syscallTable(r) : ["n/a (see the notes)"]),
    "",
    "## Idle sessions",
    "",
    ...head(
      ["target", "held", "RSS before KiB", "RSS after KiB", "KiB/session", "fds before → after"],
      ["---", "---:", "---:", "---:", "---:", "---"],
    ),
    ...r.idle.map((i) =>
      row([
        i.target,
        i.sessions_held,
        i.rss_before_kib,
        i.rss_after_kib,
        fmt(i.kib_per_session, 2),
        `${i.fds_before} → ${i.fds_after}`,
      ]),
    ),
    "",
    ...(w ? [...workersMarkdown(w), ""] : []),
    "## Every run",
    "",
    ...roundsTable(r),
    "",
    ...(r.notes.length ? ["Notes:", "", ...r.notes.map((n) => `- ${n}`), ""] : []),
  ].join("\n");
}
