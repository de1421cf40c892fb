// One measured run: a load generator against a target, the CPU of the target, the upstream
// and the machine sampled on the load generator's marks, and what the upstream saw.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, launch } from "../lib/children.ts";
import { busyCores, cpuMs, cpuTimes, fdCount, machineCpu } from "../lib/procfs.ts";
import { round } from "../lib/stats.ts";
import { settle } from "../lib/wait.ts";
import type { Target } from "./targets.ts";

const HERE = dirname(fileURLToPath(import.meta.url));

export interface Settings {
  concurrency: number;
  seconds: number;
  warmup: number;
  /** Rounds of every target (BENCH_ROUNDS). */
  rounds: number;
  /** Commands per session of each variant. */
  variants: number[];
  /** Trunkline's `log: { level }`, or null for its default (info). */
  log_level: string | null;
  /** The strace window: warm-up + seconds of load with strace attached. */
  strace_seconds: number;
}

export interface RunResult {
  target: string;
  kind: string;
  /** The round of the rotation (null for the A/B rounds, named in `target`). */
  round: number | null;
  commands: number;
  note: string;
  sessions: number;
  seconds: number;
  sessions_per_s: number;
  rtt_p50_ms: number | null;
  rtt_p99_ms: number | null;
  setup_p50_ms: number | null;
  setup_p99_ms: number | null;
  cpu_ms_per_session: number | null;
  user_ms_per_session: number | null;
  system_ms_per_session: number | null;
  proxy_cpu_pct: number | null;
  /** What the proxy wrote on stdout (its log) per session of the window. */
  log_bytes_per_session: number | null;
  upstream_cpu_pct: number;
  loadgen_cpu_pct: number;
  machine_busy_cores: number;
  /** Busy cores not used by the three processes of the run: other work on a shared machine. */
  other_busy_cores: number;
  errors: number;
  error_kinds: Record<string, number>;
  /** Over the load generator's whole run (warm-up, window, drain): sessions the upstream closed… */
  upstream_closed: number;
  /** …and the late HANGUPs it then received (one per session when the proxy relays them). */
  upstream_late_hangups: number;
  /** Proxy descriptors still open 2 s after the load generator ended, over those before it. */
  proxy_fds_left: number | null;
  unfinished_at_exit: number;
}

export interface LoadgenResult {
  sessions: number;
  seconds: number;
  sessions_per_s: number;
  errors: number;
  error_kinds: Record<string, number>;
  rtt: { p50_ms: number | null; p99_ms: number | null };
  setup: { p50_ms: number | null; p99_ms: number | null };
  loadgen_cpu_pct: number;
  unfinished_at_exit?: number;
}

/**
 * Starts a load generator; `seconds` measured after `warmup` (with `waitStart`, after the
 * warm-up and a `start` sent to its stdin).
 */
export function startLoadgen(
  target: Target,
  commands: number,
  s: { concurrency: number; seconds: number; warmup: number },
  waitStart = false,
): Child {
  const args = [
    join(HERE, "loadgen.mjs"),
    "--ports",
    target.ports.join(","),
    "--concurrency",
    String(s.concurrency),
    "--seconds",
    String(s.seconds),
    "--warmup",
    String(s.warmup),
    "--commands",
    String(commands),
  ];
  if (waitStart) args.push("--wait-start");
  return launch(`loadgen→${target.name}`, process.execPath, args, { stdin: waitStart });
}

/** How long a load generator may take: its run, its drain (3 s) and a margin. */
export const loadgenTimeoutMs = (s: { seconds: number; warmup: number }) =>
  (s.warmup + s.seconds) * 1000 + 20_000;

interface UpstreamStats {
  completed: number;
  hangups: number;
}

async function upstreamStats(up: Child): Promise<UpstreamStats> {
  const e = await up.request("stats", "stats", 5_000);
  return { completed: Number(e.completed), hangups: Number(e.hangups) };
}

export async function measure(
  target: Target,
  upstream: Child,
  s: Settings,
  commands: number,
  roundNo: number | null,
): Promise<RunResult> {
  const proxy = target.proxy;
  const fds0 = proxy ? fdCount(proxy.pid) : 0;
  const up0 = await upstreamStats(upstream);
  const lg = startLoadgen(target, commands, s);
  type Sample = {
    user: number;
    system: number;
    log: number;
    upstream: number;
    loadgen: number;
    machine: { busy: number; total: number };
    at: number;
  };
  const sample = (): Sample => {
    const t = proxy ? cpuTimes(proxy.pid) : { user: 0, system: 0 };
    return {
      ...t,
      log: proxy ? proxy.logBytes() : 0,
      upstream: cpuMs(upstream.pid),
      loadgen: cpuMs(lg.pid),
      machine: machineCpu(),
      at: performance.now(),
    };
  };
  const marks: Partial<Record<"measure" | "end", Sample>> = {};
  // Sampled in the stdout handler itself, so the window matches the loadgen's to a few ms.
  lg.onEvent((e) => {
    if (e.event === "measure" || e.event === "end") marks[e.event] = sample();
  });
  const r = (await lg.waitFor("result", loadgenTimeoutMs(s))) as unknown as LoadgenResult;
  const a = marks.measure;
  const b = marks.end;
  if (!a || !b) throw new Error(`${lg.name}: missing measure/end marks`);

  // The proxy should be back to its descriptors of before; the upstream should have had
  // every session's late HANGUP (it may still be on its way for the last ones).
  if (proxy) await settle(() => fdCount(proxy.pid) <= fds0, 2_000);
  const fdsLeft = proxy ? fdCount(proxy.pid) - fds0 : null;
  let up1 = await upstreamStats(upstream);
  for (let i = 0; i < 10 && up1.hangups - up0.hangups < up1.completed - up0.completed; i++) {
    await new Promise((res) => setTimeout(res, 100));
    up1 = await upstreamStats(upstream);
  }

  const wallMs = b.at - a.at;
  const userMs = b.user - a.user;
  const systemMs = b.system - a.system;
  const proxyMs = userMs + systemMs;
  const perSession = (x: number, d = 4) =>
    proxy === undefined || r.sessions === 0 ? null : round(x / r.sessions, d);
  const machineCores = busyCores(a.machine, b.machine);
  const oursCores = (proxyMs + (b.upstream - a.upstream) + (b.loadgen - a.loadgen)) / wallMs;
  return {
    target: target.name,
    kind: target.kind,
    round: roundNo,
    commands,
    note: target.note,
    sessions: r.sessions,
    seconds: r.seconds,
    sessions_per_s: r.sessions_per_s,
    rtt_p50_ms: r.rtt.p50_ms,
    rtt_p99_ms: r.rtt.p99_ms,
    setup_p50_ms: r.setup.p50_ms,
    setup_p99_ms: r.setup.p99_ms,
    cpu_ms_per_session: perSession(proxyMs),
    user_ms_per_session: perSession(userMs),
    system_ms_per_session: perSession(systemMs),
    proxy_cpu_pct: proxy === undefined ? null : round((proxyMs / wallMs) * 100, 1),
    log_bytes_per_session: perSession(b.log - a.log, 1),
    upstream_cpu_pct: round(((b.upstream - a.upstream) / wallMs) * 100, 1),
    loadgen_cpu_pct: r.loadgen_cpu_pct,
    machine_busy_cores: round(machineCores, 2),
    other_busy_cores: round(Math.max(0, machineCores - oursCores), 2),
    errors: r.errors,
    error_kinds: r.error_kinds,
    upstream_closed: up1.completed - up0.completed,
    upstream_late_hangups: up1.hangups - up0.hangups,
    proxy_fds_left: fdsLeft,
    unfinished_at_exit: r.unfinished_at_exit ?? 0,
  };
}
