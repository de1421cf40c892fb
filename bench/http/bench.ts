// The HTTP benchmark (issue 14): wrk, in its own process, against the same nginx origin
// directly, through Trunkline, through HAProxy and through nginx as a proxy, in one run,
// keep-alive on both sides. Rounds interleave the targets so that drift of the machine
// lands on all of them; each figure is the median of the rounds. The bar: Trunkline's
// requests/s at least 0.6× HAProxy's, judged like for like (pairs.ts): both writing an
// access line per request, or neither.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllNow, setChildFdLimit, stopAll } from "../lib/children.ts";
import { LOAD_CPU, PIN, PROXY_CPU, pin } from "../lib/pin.ts";
import { cpuTimes, machineInfo, rssKiB } from "../lib/procfs.ts";
import { envInt, fmt, median, ratio, round } from "../lib/stats.ts";
import { BAR, comparisons, describe, LINE_BYTES } from "./pairs.ts";
import {
  HAPROXY,
  NGINX,
  type Peer,
  startHaproxy,
  startNginxProxy,
  startNodeFloor,
  startNodeRaw,
  startOrigin,
  startTrunkline,
  THREADS,
} from "./peers.ts";
import { runWrk, WRK, type WrkResult } from "./wrk.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ALL = [
  "direct",
  "node-raw",
  "node-floor",
  "trunkline",
  "trunkline-nolog",
  "trunkline-node24",
  "trunkline-node22",
  "trunkline-ref",
  "haproxy",
  "haproxy-log",
  "nginx",
];
// trunkline-ref: another build of Trunkline (BENCH_TRUNKLINE_REF=its dist/cli/main.js), run in
// the same rounds, for an A/B of two builds. Not in the default targets, nor is Node 22.
const DEFAULT = ALL.filter((t) => t !== "trunkline-ref" && t !== "trunkline-node22");

interface Round extends WrkResult {
  /** How much the proxy's stdout file grew over the wrk run, per request: its access lines. */
  log_bytes_per_req: number | null;
  cpu_us_per_req: number | null;
  user_us_per_req: number | null;
  system_us_per_req: number | null;
}

interface TargetSummary {
  target: string;
  /** Its requests/s over HAProxy's in the same round, round by round: the median, lowest, highest. */
  paired_vs_haproxy: { median: number | null; min: number | null; max: number | null };
  note: string;
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  cpu_us_per_req: number | null;
  user_us_per_req: number | null;
  system_us_per_req: number | null;
  errors: number;
  log_bytes_per_req: number | null;
  rss_kib_after: number | null;
  rounds: Round[];
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return (
    `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((l) => l.trim() !== "") ?? "not found"
  ).trim();
}

/** The size of a proxy's stdout file, 0 when it has none or it cannot be read. */
function logSize(file: string | undefined): number {
  try {
    return file === undefined ? 0 : statSync(file).size;
  } catch {
    return 0;
  }
}

async function measure(url: string, peer: Peer | undefined, s: Settings): Promise<Round> {
  const pids = peer?.pids ?? [];
  const logFile = peer?.child.logFile;
  const logBefore = logSize(logFile);
  const sum = () =>
    pids.reduce(
      (a, p) => {
        const t = cpuTimes(p);
        return { user: a.user + t.user, system: a.system + t.system };
      },
      { user: 0, system: 0 },
    );
  const before = pids.length > 0 ? sum() : undefined;
  const r = await runWrk(url, s.threads, s.connections, s.seconds);
  const after = before ? sum() : undefined;
  const logBytes = logSize(logFile) - logBefore;
  const per = (ms: number) => (r.requests > 0 ? round((ms * 1000) / r.requests, 2) : null);
  return {
    ...r,
    log_bytes_per_req: peer && r.requests > 0 ? round(logBytes / r.requests, 1) : null,
    cpu_us_per_req: before && after ? per(after.user - before.user + after.system - before.system) : null,
    user_us_per_req: before && after ? per(after.user - before.user) : null,
    system_us_per_req: before && after ? per(after.system - before.system) : null,
  };
}

interface Settings {
  seconds: number;
  rounds: number;
  connections: number;
  threads: number;
  targets: string[];
}

function settings(): Settings {
  const raw = process.env.BENCH_HTTP_TARGETS;
  const targets = raw ? raw.split(",").map((x) => x.trim()) : DEFAULT;
  const bad = targets.filter((t) => !ALL.includes(t));
  if (bad.length > 0 || targets.length === 0)
    throw new Error(`BENCH_HTTP_TARGETS takes ${ALL.join(",")}; got "${raw}"`);
  return {
    seconds: envInt("BENCH_SECONDS", 8, 2, 600),
    rounds: envInt("BENCH_ROUNDS", 3, 1, 50),
    connections: envInt("BENCH_CONCURRENCY", 32, 1, 10_000),
    threads: envInt("BENCH_WRK_THREADS", 1, 1, 64),
    targets,
  };
}

function markdown(
  date: string,
  s: Settings,
  machine: Record<string, string | number>,
  rows: TargetSummary[],
  bar: readonly string[],
): string {
  const by = (n: string) => rows.find((r) => r.target === n);
  const hap = by("haproxy");
  const dir = by("direct");
  const lines = [
    `# HTTP benchmark, ${date}`,
    "",
    `${machine.cores} cores (${machine.cpu}), Node ${process.version}; wrk ${s.threads} thread(s), ${s.connections} keep-alive connections, ${s.rounds} rounds of ${s.seconds} s per target, interleaved; medians of the rounds.`,
    "",
    "| target | requests/s | vs HAProxy | vs HAProxy, same round (median, range) | vs direct | p50 ms | p99 ms | proxy CPU µs/req (user / system) | errors | log B/req | RSS after (KiB) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.target} | ${fmt(r.rps, 0)} | ${fmt(ratio(r.rps, hap?.rps), 2)} | ${fmt(r.paired_vs_haproxy.median, 2)} (${fmt(r.paired_vs_haproxy.min, 2)}–${fmt(r.paired_vs_haproxy.max, 2)}) | ${fmt(ratio(r.rps, dir?.rps), 2)} | ${fmt(r.p50_ms, 3)} | ${fmt(r.p99_ms, 3)} | ${r.cpu_us_per_req === null ? "—" : `${fmt(r.cpu_us_per_req, 1)} (${fmt(r.user_us_per_req, 1)} / ${fmt(r.system_us_per_req, 1)})`} | ${r.errors} | ${fmt(r.log_bytes_per_req, 0)} | ${r.rss_kib_after ?? "—"} |`,
    ),
    "",
    ...rows.map((r) => `- ${r.target}: ${r.note}`),
    `- bar (issue 14): Trunkline's requests/s ≥ ${BAR}× HAProxy's (the medians' ratio), like for like: both writing an access line per request to a file (haproxy-log: \`option httplog\`), or neither (trunkline-nolog: log level warn), a target counting as logging when its stdout grew by at least ${LINE_BYTES} bytes per request; the old pair, Trunkline logging and HAProxy not, last:`,
    ...bar.map((b) => `  - ${b}`),
    "- log B/req: how much the proxy's stdout file grew over the wrk run, per request: its access lines (Trunkline's JSON line, HAProxy's httplog line)",
    "- vs HAProxy, same round: each round's requests/s over HAProxy's in that round (a round runs every target once, one after another): the machine's drift from round to round cancels out of it, not out of the medians' ratio",
    `- CPU per request: user + system time of the proxy's process (nginx: its worker) from /proc over the wrk run, divided by the requests wrk completed; ${PIN ? `pinned (BENCH_PIN=1): every proxy on CPU ${PROXY_CPU}, wrk and the origin on CPU ${LOAD_CPU}` : "wrk, the origin and the proxy share the 2 cores as the scheduler places them (BENCH_PIN=1 pins them)"}`,
    "",
  ];
  return lines.join("\n");
}

export async function main(): Promise<number> {
  if (process.platform !== "linux") {
    process.stderr.write("the benchmark reads /proc: Linux only\n");
    return 1;
  }
  const s = settings();
  setChildFdLimit(65_536);
  const peers = spawnSync("bash", [join(ROOT, "scripts", "ensure-bench-peers.sh"), "http"], {
    stdio: "inherit",
  });
  if (peers.status !== 0) return 1;
  const dir = mkdtempSync(join(tmpdir(), "trunkline-bench-http-"));
  process.once("exit", () => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const machine = machineInfo({
    nginx: version(NGINX, ["-v"]),
    haproxy: version(HAPROXY, ["-v"]),
    wrk: version(WRK, ["-v"]),
  });
  try {
    if (PIN && THREADS > 1)
      throw new Error("BENCH_PIN=1 gives the proxy one core: not with BENCH_WORKERS above 1");
    const origin = await startOrigin(dir);
    if (PIN) pin(origin.pids, LOAD_CPU);
    const started = new Map<string, Peer | undefined>([["direct", undefined]]);
    const notes = new Map<string, string>([["direct", `wrk → origin (${origin.note})`]]);
    for (const t of s.targets) {
      if (t === "direct") continue;
      const p = t.startsWith("trunkline")
        ? await startTrunkline(dir, origin.port, t)
        : t.startsWith("haproxy")
          ? await startHaproxy(dir, origin.port, t)
          : t === "node-floor"
            ? await startNodeFloor(dir, origin.port)
            : t === "node-raw"
              ? await startNodeRaw(dir, origin.port)
              : await startNginxProxy(dir, origin.port);
      if (PIN) pin(p.pids, PROXY_CPU);
      started.set(t, p);
      notes.set(t, p.note);
    }
    say(
      `HTTP benchmark: ${s.targets.join(", ")}; ${s.rounds} rounds × ${s.seconds} s, wrk -t${s.threads} -c${s.connections}`,
    );
    // A short warm-up per target: V8's JIT and every keep-alive connection in place.
    for (const t of s.targets)
      await runWrk(`http://127.0.0.1:${started.get(t)?.port ?? origin.port}/`, s.threads, s.connections, 2);
    const rounds = new Map<string, Round[]>(s.targets.map((t) => [t, []]));
    for (let i = 0; i < s.rounds; i++) {
      // Rotate the order each round: no target always runs first or last.
      const order = s.targets.map((_, k) => s.targets[(k + i) % s.targets.length] as string);
      for (const t of order) {
        const p = started.get(t);
        const r = await measure(`http://127.0.0.1:${p?.port ?? origin.port}/`, p, s);
        rounds.get(t)?.push(r);
        say(
          `  round ${i + 1} ${t.padEnd(10)} ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(r.p50_ms, 3)} ms  p99 ${fmt(r.p99_ms, 3)} ms  proxy ${fmt(r.cpu_us_per_req, 1)} µs/req  errors ${r.errors}`,
        );
      }
    }
    const hapRounds = rounds.get("haproxy") ?? [];
    const rows: TargetSummary[] = s.targets.map((t) => {
      const rs = rounds.get(t) ?? [];
      const p = started.get(t);
      const paired = rs.map((r, i) => ratio(r.rps, hapRounds[i]?.rps)).filter((x): x is number => x !== null);
      return {
        target: t,
        paired_vs_haproxy: {
          median: median(paired),
          min: paired.length > 0 ? Math.min(...paired) : null,
          max: paired.length > 0 ? Math.max(...paired) : null,
        },
        note: notes.get(t) ?? "",
        rps: median(rs.map((r) => r.rps)),
        p50_ms: median(rs.map((r) => r.p50_ms)),
        p99_ms: median(rs.map((r) => r.p99_ms)),
        cpu_us_per_req: median(rs.map((r) => r.cpu_us_per_req)),
        user_us_per_req: median(rs.map((r) => r.user_us_per_req)),
        system_us_per_req: median(rs.map((r) => r.system_us_per_req)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        log_bytes_per_req: median(rs.map((r) => r.log_bytes_per_req)),
        rss_kib_after: p ? p.pids.reduce((a, pid) => a + rssKiB(pid), 0) : null,
        rounds: rs,
      };
    });
    const compared = comparisons(
      new Map(
        rows.map((r) => [r.target, { rps: r.rounds.map((x) => x.rps), logBytesPerReq: r.log_bytes_per_req }]),
      ),
    );
    const bar =
      compared.length === 0 ? ["not measured (run a trunkline target and haproxy)"] : compared.map(describe);
    const date = new Date().toISOString();
    const md = markdown(date, s, machine, rows, bar);
    say("");
    say(md);
    const out = join(ROOT, "bench", "results");
    mkdirSync(out, { recursive: true });
    const file = join(out, `http-${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
    writeFileSync(file, `${JSON.stringify({ date, machine, settings: s, rows, bar, compared }, null, 2)}\n`);
    writeFileSync(join(out, "http-latest.md"), md);
    say(`written: ${file.slice(ROOT.length + 1)} and bench/results/http-latest.md`);
    return rows.some((r) => r.errors > 0) ? 1 : 0;
  } finally {
    await stopAll();
  }
}
