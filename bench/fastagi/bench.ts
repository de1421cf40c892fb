// The FastAGI benchmark (issues 2 and 12): short sessions played as Asterisk plays them,
// through (a) no proxy, (b) a bare Node relay, (c) Trunkline at its defaults, (d) HAProxy in
// `mode tcp`, in rounds; system calls per session under strace; then the memory of an idle
// session. Everything runs in one process tree on loopback; every child is killed on exit.
//
// Processes: bench.ts (this, the orchestrator) spawns upstream.mjs (one per variant of
// commands per session, 2 ports each), upstream.mjs --hold (2 silent ports), loadgen.mjs
// (one per run) and the proxies, each fresh for each run. Each is its own process so that
// /proc/PID/stat attributes CPU to the right one.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, killAllNow, launch, setChildFdLimit, stopAll } from "../lib/children.ts";
import { machineInfo, openFilesLimit } from "../lib/procfs.ts";
import { envInt, fmt } from "../lib/stats.ts";
import { freePort } from "../lib/wait.ts";
import type { BenchArgs } from "../run.ts";
import { abKind, abOrder, abPair } from "./ab.ts";
import { BAR, notes as notesOf, ratios as ratiosOf, summarise, verdicts as verdictsOf } from "./analysis.ts";
import { HOLD_SESSIONS, type IdleResult, measureIdle } from "./idle.ts";
import { measure, type RunResult, type Settings } from "./measure.ts";
import { markdown, type Report } from "./report.ts";
import { STRACE, type StraceResult, straceUnavailable, straceWindow } from "./strace.ts";
import { HAPROXY, type Started, startHaproxy, startRelay, startTrunkline, type Target } from "./targets.ts";
import {
  describeThreads,
  haproxyThreads,
  roundKinds,
  type ThreadSessions,
  threadSessions,
  trunklineWorkers,
  type WorkersSetup,
  workersKindNotes,
  workersSetup,
} from "./workers.ts";
import { addWorkersRatios, type WorkersReport, workersNotes, workersVerdicts } from "./workers-report.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"];
const NOTES: Record<string, string> = {
  direct: "no proxy",
  relay: "bare Node relay (net + pipe), 1 thread",
  "relay-lean": "bare Node relay, onread upstream + direct writes, 1 thread",
  "relay-batch": "relay-lean with its writes held to the end of each batch of events, 1 thread",
  trunkline: "least-sessions, 1 Node thread, defaults",
  haproxy: "mode tcp, leastconn, nbthread 1",
};

function readSettings(): Settings {
  const level = process.env.BENCH_LOG_LEVEL;
  if (level !== undefined && level !== "" && !LOG_LEVELS.includes(level))
    throw new Error(`BENCH_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  return {
    concurrency: envInt("BENCH_CONCURRENCY", 32, 1, 2_000),
    seconds: envInt("BENCH_SECONDS", 6, 1, 120),
    warmup: envInt("BENCH_WARMUP", 1, 1, 60),
    rounds: envInt("BENCH_ROUNDS", 3, 1, 10),
    variants: [3, 2],
    log_level: level || null,
    strace_seconds: 3,
  };
}

/** Rotates `xs` left by `n`: round 1 keeps the order, round 2 starts with the second, … */
const rotate = <T>(xs: T[], n: number): T[] => xs.map((_, i) => xs[(i + n) % xs.length] as T);

export async function main(args: BenchArgs = {}): Promise<number> {
  if (process.platform !== "linux") {
    process.stderr.write("the benchmark reads /proc: Linux only\n");
    return 1;
  }
  const settings = readSettings();
  // --workers N: both Trunkline targets run on one Node that has reusePort.
  const setup = args.workers === undefined ? undefined : workersSetup(args.workers, ROOT);
  if (typeof setup === "string") {
    process.stderr.write(`bench fastagi: ${setup}\n`);
    return 1;
  }
  const w: WorkersSetup | undefined = setup;
  const kindNotes = { ...NOTES, ...(w ? workersKindNotes(w) : {}) };
  const pair = abPair();
  const abRounds = pair ? envInt("BENCH_AB_ROUNDS", 3, 1, 20) : 0;
  const wantStrace = process.env.BENCH_STRACE !== "0";
  const notes: string[] = [];
  const lim = openFilesLimit("self");
  const fdLimit = Math.min(65_536, lim.hard);
  setChildFdLimit(fdLimit);
  const needed = 2 * HOLD_SESSIONS + 500;
  let holdCount = HOLD_SESSIONS;
  if (fdLimit < needed) {
    holdCount = Math.max(100, Math.floor((fdLimit - 500) / 2));
    notes.push(
      `open-files hard limit is ${lim.hard}: the idle test holds ${holdCount} sessions instead of ${HOLD_SESSIONS} (raise it with ulimit -Hn as root)`,
    );
  }
  const haveHaproxy = existsSync(HAPROXY);
  if (!haveHaproxy) notes.push(`${HAPROXY} not found: the HAProxy figures and the ratios to it are n/a`);
  const noStrace = wantStrace ? straceUnavailable() : "BENCH_STRACE=0";
  if (noStrace) notes.push(`system calls per session: n/a (${noStrace})`);

  const dir = mkdtempSync(join(tmpdir(), "trunkline-bench-"));
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping the benchmark's processes\n`);
    void stopAll().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", killAllNow);

  const say = (s: string) => process.stdout.write(`${s}\n`);
  const hv = spawnSync(HAPROXY, ["-v"], { encoding: "utf8" });
  const sv = spawnSync(STRACE, ["-V"], { encoding: "utf8" });
  const machine = machineInfo({
    haproxy: (hv.stdout ?? "").split("\n")[0]?.trim() || "HAProxy not found",
    strace: (sv.stdout ?? "").split("\n")[0]?.trim() || "strace not found",
  });
  const s = settings;
  try {
    if (w) say(`Trunkline runs on Node ${w.node.version} (${w.node.source}): ${w.node.path}`);
    say(
      `FastAGI benchmark: ${s.concurrency} concurrent sessions, ${s.warmup} s warm-up + ${s.seconds} s per run, ${s.rounds} rounds, ${s.variants.join(" and ")} commands per session, ${machine.cores} cores (${machine.cpu}), load average ${machine.load_average_at_start}`,
    );
    const upstreamFor = new Map<number, { child: Child; ports: number[] }>();
    for (const c of s.variants) {
      const child = launch(
        `upstream ${c}`,
        process.execPath,
        [join(HERE, "upstream.mjs"), "--ports", "2", "--commands", String(c)],
        { stdin: true },
      );
      upstreamFor.set(c, { child, ports: (await child.waitFor("listening", 10_000)).ports as number[] });
    }
    const upHold = launch(
      "upstream --hold",
      process.execPath,
      [join(HERE, "upstream.mjs"), "--ports", "2", "--hold"],
      { stdin: true },
    );
    const holdPorts = (await upHold.waitFor("listening", 10_000)).ports as number[];
    const gotLimit = openFilesLimit(upHold.pid).soft;
    if (gotLimit < needed) notes.push(`children run with an open-files limit of ${gotLimit}`);
    const upstream = (c: number) => {
      const u = upstreamFor.get(c);
      if (!u) throw new Error(`no upstream for ${c} commands`);
      return u;
    };

    const threadsOf = (kind: string) => (w && kind === trunklineWorkers(w.n) ? w.n : 1);
    /** Starts the proxy of `kind` (none for direct) in front of the upstream of `c` commands. */
    const startTarget = async (kind: string, name: string, c: number): Promise<Target> => {
      const ports = upstream(c).ports;
      let p: Started | undefined;
      if (kind === "relay" || kind === "relay-lean" || kind === "relay-batch")
        p = await startRelay(dir, name, ports, kind !== "relay", kind === "relay-batch");
      else if (kind === "trunkline" || (w && kind === trunklineWorkers(w.n)))
        p = await startTrunkline(dir, name, ports, {
          logLevel: s.log_level ?? undefined,
          // With --workers, both Trunkline targets differ only by `workers:`.
          ...(w ? { node: w.node.path, workers: threadsOf(kind), adminPort: await freePort() } : {}),
        });
      else if (kind === "haproxy") p = await startHaproxy(dir, name, ports, fdLimit);
      else if (w && kind === haproxyThreads(w.n)) p = await startHaproxy(dir, name, ports, fdLimit, w.n);
      const note = kindNotes[kind] ?? kind;
      return p
        ? { name, kind, ports: [p.port], proxy: p.child, note, ...(p.admin ? { admin: p.admin } : {}) }
        : { name, kind, ports, note };
    };

    const runs: RunResult[] = [];
    const record = (r: RunResult) => {
      runs.push(r);
      say(
        `  ${`${r.target} ${r.commands}c`.padEnd(18)} ${fmt(r.sessions_per_s, 0).padStart(6)} sessions/s  CPU ${fmt(r.cpu_ms_per_session, 4)} ms/session (user ${fmt(r.user_ms_per_session, 4)} system ${fmt(r.system_ms_per_session, 4)})  RTT p50 ${fmt(r.rtt_p50_ms, 3)} ms  errors ${r.errors}`,
      );
    };
    const kinds = [
      "direct",
      "relay",
      "relay-lean",
      "relay-batch",
      "trunkline",
      ...(haveHaproxy ? ["haproxy"] : []),
    ];
    const kindsOfRounds = w ? roundKinds(w, haveHaproxy) : kinds;
    const threads: ThreadSessions[] = [];
    for (let i = 1; i <= s.rounds; i++) {
      const order = rotate(kindsOfRounds, i - 1);
      say(`round ${i} of ${s.rounds}: ${order.join(", ")}`);
      for (const kind of order)
        for (const c of s.variants) {
          const t = await startTarget(kind, kind, c);
          record(await measure(t, upstream(c).child, s, c, i));
          if (t.admin !== undefined) {
            const want = threadsOf(kind);
            const ts = await threadSessions(t.admin, { target: kind, round: i, commands: c, want });
            threads.push(ts);
            if (want > 1) say(`    sessions per thread: ${describeThreads(ts)}`);
          }
          await t.proxy?.stop();
        }
    }

    // Two variants of Trunkline, alternating for BENCH_AB_ROUNDS pairs (ABBA order) because
    // run-to-run noise on a shared 2-core machine is as large as the difference sought.
    if (pair) {
      for (let i = 1; i <= abRounds; i++)
        for (const w of abOrder(i)) {
          const v = pair[w];
          for (const c of s.variants) {
            const name = `${v.name}-ab${i}`;
            say(`A/B ${name}, ${c} commands${v.main ? `: ${v.main}` : ""}`);
            const p = await startTrunkline(dir, name, upstream(c).ports, {
              main: v.main,
              env: v.env,
              logLevel: s.log_level ?? undefined,
            });
            const t: Target = { name, kind: abKind(v), ports: [p.port], proxy: p.child, note: v.note };
            record(await measure(t, upstream(c).child, s, c, null));
            await p.child.stop();
          }
        }
    }

    const syscalls: StraceResult[] = [];
    if (!noStrace) {
      const win = { concurrency: s.concurrency, seconds: s.strace_seconds, warmup: 1 };
      for (const kind of kinds.filter((k) => k !== "direct"))
        for (const c of s.variants) {
          say(`syscalls: ${kind}, ${c} commands, strace attached for ${win.seconds} s`);
          const t = await startTarget(kind, `${kind}-strace`, c);
          const r = await straceWindow(t, c, win, dir);
          syscalls.push({ ...r, target: kind });
          say(
            `  ${fmt(r.calls_per_session, 2)} calls/session over ${r.sessions} sessions${r.error ? `: ${r.error}` : ""}`,
          );
          await t.proxy?.stop();
        }
    }

    const idle: IdleResult[] = [];
    for (const kind of ["trunkline", ...(haveHaproxy ? ["haproxy"] : [])]) {
      say(
        `idle memory: ${holdCount} silent sessions through ${kind}${kind === "haproxy" ? " (for comparison)" : ""}`,
      );
      const p =
        kind === "trunkline"
          ? await startTrunkline(dir, "trunkline-idle", holdPorts, {
              logLevel: s.log_level ?? undefined,
              node: w?.node.path,
            })
          : await startHaproxy(dir, "haproxy-idle", holdPorts, fdLimit);
      idle.push(await measureIdle(kind, p.child.pid, p.port, holdCount));
      await p.child.stop();
    }

    const summaries = summarise(runs);
    const abLabels = pair ? { label: pair.label, a: abKind(pair.a), b: abKind(pair.b) } : undefined;
    const ratios = ratiosOf(summaries, syscalls, s.variants, abLabels);
    const workers: WorkersReport | undefined = w ? { ...w, threads } : undefined;
    if (workers) addWorkersRatios(ratios, summaries, s.variants, workers.n);
    const idleT = idle.find((i) => i.target === "trunkline");
    const metricsLabel = pair?.kind === "metrics" ? pair.label : undefined;
    const verdicts = verdictsOf(ratios, s.variants, idleT, HOLD_SESSIONS, metricsLabel);
    if (workers) verdicts.push(...workersVerdicts(ratios, s.variants, workers));
    notes.push(...notesOf(runs, summaries, syscalls, idle));
    if (workers) notes.push(...workersNotes(runs, workers));
    notes.push(
      "issue 2's old bars (sessions/s ≥ 0.6× HAProxy, CPU/session ≤ 2× HAProxy) are no longer verdicts; their figures are the ratios above",
    );

    const date = new Date().toISOString();
    const report: Report = {
      date,
      machine,
      settings,
      summaries,
      ratios,
      runs,
      syscalls,
      idle,
      verdicts,
      notes,
      ...(workers ? { workers } : {}),
    };
    const md = markdown(report);
    say("");
    say(md);
    const outDir = join(ROOT, "bench", "results");
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, `fastagi-${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
    const json = { ...report, ab_rounds: abRounds, bar: BAR };
    writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(outDir, "fastagi-latest.md"), md);
    say(`written: ${jsonFile.slice(ROOT.length + 1)} and bench/results/fastagi-latest.md`);
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
