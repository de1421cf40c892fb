// The SIP benchmark (issue 13): SIPp's call rate ramped through Kamailio's dispatcher and
// through Trunkline's SIP pool, over the same two SIPp answerers, in one run; and straight
// to one answerer (direct) as the floor. For each: the highest rate with no failed call and
// no retransmission, CPU per call, memory per call in progress.
//
// Processes: bench.ts (this) spawns two SIPp answerers (uas-rr.xml) for each target and one
// proxy per target, all at the start, and one SIPp caller (uac-rr.xml) per step; a target's
// processes are stopped once a step of its fails. Each is its own process tree, so /proc
// attributes CPU to the right one; all are killed on exit.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllNow, stopAll } from "../lib/children.ts";
import { machineInfo } from "../lib/procfs.ts";
import { envInt, fmt } from "../lib/stats.ts";
import { killPids, treeMemory } from "./proctree.ts";
import { type Peers, type RampSettings, runStep } from "./ramp.ts";
import { markdown, type Report, ratios, summarise, type TargetResult } from "./report.ts";
import { freeUdpPort, SIPP, startAnswerer, waitForSip } from "./sipp.ts";
import {
  direct,
  KAMAILIO,
  type Started,
  startKamailio,
  startRelay,
  startTrunkline,
  type Target,
} from "./targets.ts";
import { variant } from "./variant.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const ALL_TARGETS = [
  "direct",
  "kamailio",
  "kamailio-dlg",
  "kamailio-cdr",
  "relay",
  "trunkline-rr",
  "trunkline-rr-nolog",
  "trunkline-ls",
  "trunkline-rr-node24",
  "trunkline-rr-node22",
  "kamailio-c2",
  "trunkline-rr-node24-w2",
];
// Node 22 and the two-core pair are asked for by name (BENCH_SIP_TARGETS), not run by default.
const BY_NAME_ONLY = new Set(["trunkline-rr-node22", "kamailio-c2", "trunkline-rr-node24-w2"]);
const DEFAULT_TARGETS = ALL_TARGETS.filter((t) => !BY_NAME_ONLY.has(t));

/** `…-ref` of any Trunkline target: the same on BENCH_TRUNKLINE_REF's build (variant.ts). */
const isTarget = (t: string) =>
  ALL_TARGETS.includes(t) ||
  (t.startsWith("trunkline-") && variant(t).ref && ALL_TARGETS.includes(t.slice(0, -"-ref".length)));

function readSettings(): RampSettings & { targets: string[] } {
  const s = {
    start: envInt("BENCH_SIP_START", 500, 10, 100_000),
    step: envInt("BENCH_SIP_STEP", 500, 10, 100_000),
    max: envInt("BENCH_SIP_MAX", 8_000, 10, 100_000),
    stepSeconds: envInt("BENCH_SIP_STEP_SECONDS", 5, 2, 120),
    holdMs: envInt("BENCH_SIP_HOLD_MS", 2_000, 0, 60_000),
  };
  // The memory is read in the last half second of sending, once the first calls have been
  // held their time: the step must outlast the hold by a second.
  if (s.stepSeconds * 1000 < s.holdMs + 1000)
    throw new Error(`BENCH_SIP_STEP_SECONDS (${s.stepSeconds}) must exceed the hold (${s.holdMs} ms) by 1 s`);
  const raw = process.env.BENCH_SIP_TARGETS;
  const targets = raw ? raw.split(",").map((x) => x.trim()) : DEFAULT_TARGETS;
  const bad = targets.filter((x) => !isTarget(x));
  if (bad.length > 0 || targets.length === 0)
    throw new Error(
      `BENCH_SIP_TARGETS takes ${ALL_TARGETS.join(",")} (a Trunkline one also as …-ref); got "${raw}"`,
    );
  return { ...s, targets };
}

function versionLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "")
    ?.replace(/^version: /, "");
}

export async function main(): Promise<number> {
  if (process.platform !== "linux") {
    process.stderr.write("the benchmark reads /proc: Linux only\n");
    return 1;
  }
  const settings = readSettings();
  const peersCheck = spawnSync("bash", [join(ROOT, "scripts", "ensure-bench-peers.sh")], {
    stdio: "inherit",
  });
  if (peersCheck.status !== 0) return 1;

  const dir = mkdtempSync(join(tmpdir(), "trunkline-bench-sip-"));
  const live: Target[] = [];
  // Kamailio's workers are its children, not ours: killAllNow reaches only its creator.
  const killLive = () =>
    killPids(
      live.flatMap((t) => t.pids),
      "kamailio",
    );
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping the benchmark's processes\n`);
    void Promise.all([...live.map((t) => t.stop()), stopAll()]).finally(() => {
      killLive();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const keep = process.env.BENCH_SIP_KEEP === "1";
  // Also on a crash (say, EPIPE when stdout is piped into `head`): no process, no temp dir left.
  process.once("exit", () => {
    killAllNow();
    killLive();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  });

  const say = (s: string) => process.stdout.write(`${s}\n`);
  const machine = machineInfo({
    kamailio: versionLine(KAMAILIO, ["-v"]) ?? "kamailio not found",
    sipp: versionLine(SIPP, ["-v"]) ?? "sipp not found",
  });
  const s = settings;
  const notes: string[] = [];
  const results: TargetResult[] = [];
  try {
    const steps = Math.floor((s.max - s.start) / s.step) + 1;
    say(
      `SIP benchmark: ${s.targets.join(", ")}; ${s.start} to ${s.max} calls/s by ${s.step} (at most ${steps} steps of ${s.stepSeconds} s each), calls held ${s.holdMs} ms; ${machine.cores} cores (${machine.cpu}), load average ${machine.load_average_at_start}`,
    );
    // Answerers of its own for every target: a ramp that ends in overload leaves SIPp with
    // calls it still retransmits for up to 32 s.
    const startPeers = async (target: string): Promise<Peers> => {
      const peers: Peers = { answerers: [] };
      for (const name of ["answerer-a", "answerer-b"]) {
        const a = startAnswerer(dir, `${name}-${target}`, await freeUdpPort());
        peers.answerers.push(a);
        await waitForSip(a.port, 10_000, () =>
          a.child.exited === null ? null : `${name} exited (${a.child.exited})`,
        );
      }
      return peers;
    };
    const start = (name: string, ports: readonly number[]): Promise<Started> => {
      if (name === "direct") return Promise.resolve({ target: direct(ports[0] as number) });
      if (name === "kamailio") return startKamailio(dir, [...ports]);
      if (name === "kamailio-c2") return startKamailio(dir, [...ports], 2);
      if (name === "kamailio-dlg") return startKamailio(dir, [...ports], 1, "dialog");
      if (name === "kamailio-cdr") return startKamailio(dir, [...ports], 1, "cdr");
      if (name === "relay") return startRelay(dir, [...ports]);
      return startTrunkline(dir, name, name === "trunkline-ls" ? "least-sessions" : "round-robin", [
        ...ports,
      ]);
    };

    // Every target is started first, idle side by side, then the ramp is interleaved: at each
    // rate every target still passing runs its step, one after another, the first one turning
    // round from rate to rate. On this VM the machine's pace drifts by ±20% over minutes; run
    // one whole ramp after another, a target met a slow phase the next did not (one run read
    // Kamailio 4750 and Trunkline 2500, the one before 4000 and 4000). Interleaved, every
    // target meets every phase at nearly the same rates.
    interface Running {
      res: TargetResult;
      target: Target;
      stopPeers: () => Promise<unknown>;
      peers: Peers;
    }
    const running: Running[] = [];
    for (const name of s.targets) {
      const peers = await startPeers(name);
      const stopPeers = () => Promise.all(peers.answerers.map((a) => a.child.stop()));
      const started = await start(
        name,
        peers.answerers.map((a) => a.port),
      );
      if ("unavailable" in started) {
        say(`${name}: unavailable: ${started.unavailable}`);
        results.push({
          name,
          note: "",
          unavailable: started.unavailable,
          workers: null,
          idle: null,
          steps: [],
        });
        await stopPeers();
        continue;
      }
      const t = started.target;
      live.push(t);
      const mem = t.pids.length > 0 ? treeMemory(t.pids) : null;
      say(
        `${name}: ${t.note}${t.workers && t.workers.processes > 1 ? ` (${t.workers.processes} processes)` : ""}${mem ? `; idle PSS ${mem.pss} KiB` : ""}`,
      );
      const res: TargetResult = {
        name,
        note: t.note,
        unavailable: null,
        workers: t.workers,
        idle: mem ? { pss_kib: mem.pss, rss_kib: mem.rss } : null,
        steps: [],
      };
      results.push(res);
      running.push({ res, target: t, stopPeers, peers });
    }
    // A target is stopped as soon as a step of its fails: an overloaded SIPp retransmits for
    // up to 32 s, which would load the others' steps.
    // Kept in `live` until stopped: a signal meanwhile still reaches Kamailio's workers.
    const retire = async (r: Running) => {
      const at = running.indexOf(r);
      if (at >= 0) running.splice(at, 1);
      try {
        await r.target.stop();
        await r.stopPeers();
      } finally {
        const i = live.indexOf(r.target);
        if (i >= 0) live.splice(i, 1);
      }
    };
    try {
      for (let rate = s.start, turn = 0; rate <= s.max && running.length > 0; rate += s.step, turn++) {
        const order = running.map((_, i) => running[(i + turn) % running.length] as Running);
        for (const r of order) {
          const step = await runStep(dir, r.target, r.peers, s, rate);
          r.res.steps.push(step);
          say(
            `  ${r.res.name.padEnd(20)} ${String(step.rate).padStart(6)}/s  sent ${fmt(step.sent_rate, 0).padStart(6)}/s  ok ${step.successful}  proxy ${fmt(step.proxy_cpu_us_per_call, 1)} µs/call ${fmt(step.proxy_cpu_pct, 1)}% core (peak ${fmt(step.proxy_peak_cores, 2)})  answerers ${fmt(step.answerers_cpu_us_per_call, 1)}  caller ${fmt(step.caller_cpu_us_per_call, 1)} µs/call  together ${fmt(step.measured_cores, 2)} cores  ${step.passed ? "pass" : `FAIL: ${step.reason}`}`,
          );
          if (!step.passed) await retire(r);
        }
      }
    } finally {
      for (const r of [...running]) await retire(r);
    }

    const summaries = results.map((r) => summarise(r, s));
    const ratioRows = ratios(summaries);
    for (const x of summaries)
      if (x.reached_max)
        notes.push(`${x.target} passed every step up to BENCH_SIP_MAX: its rate is a floor, not its limit`);
    const relay = summaries.find((x) => x.target === "relay");
    const kam = summaries.find((x) => x.target === "kamailio");
    if (relay?.proxy_cpu_us_per_call != null && kam?.proxy_cpu_us_per_call != null)
      notes.push(
        `relay (Node's floor, bench/sip/relay.mjs): ${relay.reached_max ? "≥ " : ""}${relay.sustained} calls/s at ${relay.proxy_cpu_us_per_call.toFixed(1)} µs/call, ${(relay.proxy_cpu_us_per_call / kam.proxy_cpu_us_per_call).toFixed(2)}× Kamailio's CPU per call`,
      );
    notes.push(
      "CPU per call: user + system time of the proxy's processes (all of Kamailio's) from /proc over the step, caller start to end, divided by the calls completed; answerers and caller the same, for the shared-core effect",
      "memory per call in progress: the proxy's PSS (summed over Kamailio's processes, whose shared memory then counts once) read in the last half second of the sustained step's sending, minus its PSS when idle, divided by rate × hold",
      "Kamailio's send buffer is the system default (it has no setting for it, only maxbuffer for receiving)",
      "cores used: proxy + answerers + caller over the step, from their own times; the machine's busy cores from /proc/stat are in the JSON (machine_busy_cores) but on this VM they can be off by several tenths of a core over a step",
      "proxy % core and cores used are averages over the whole step, caller start to end, the tail of held calls (and, in a failed step, of the caller's timers) included: a saturated proxy reads well below one core there; the peak column (the busiest process's most CPU over any 1 s of the step) is the one that shows saturation",
    );
    const date = new Date().toISOString();
    const report: Report = {
      date,
      machine,
      settings: s,
      summaries,
      ratios: ratioRows,
      targets: results,
      notes,
    };
    const md = markdown(report);
    say("");
    say(md);
    const outDir = join(ROOT, "bench", "results");
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, `sip-${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
    writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(jsonFile.replace(/\.json$/, ".md"), md);
    writeFileSync(join(outDir, "sip-latest.md"), md);
    say(`written: ${jsonFile.slice(ROOT.length + 1)}, its .md and bench/results/sip-latest.md`);
    return 0;
  } finally {
    await stopAll();
    killLive();
    // BENCH_SIP_KEEP=1 keeps the configs, the proxies' logs and SIPp's statistics.
    if (keep) say(`kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
