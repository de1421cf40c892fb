// The FastAGI benchmark (issue 2, "Benchmark"): short sessions through (a) no proxy,
// (b) Trunkline, (c) HAProxy in `mode tcp`, then the memory of an idle session in Trunkline.
// Everything runs in one process tree on loopback; every child is killed on exit.
//
// Processes: bench.ts (this, the orchestrator) spawns upstream.mjs (2 short-session ports),
// upstream.mjs --hold (2 silent ports), loadgen.mjs (one per run) and the proxies. Each is
// its own process so that /proc/PID/stat attributes CPU to the right one.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const HAPROXY = "/usr/sbin/haproxy";
const HOLD_SESSIONS = 5_000;
const HOLD_WARMUP_SESSIONS = 500;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The bar of issue 2, and of issue 11 for the cost of metrics. */
const BAR = { minRateVsHaproxy: 0.6, maxCpuVsHaproxy: 2, maxIdleKiB: 20, maxMetricsCost: 1.05 };

interface Variant {
  name: string;
  note: string;
  /** Another build's dist/cli/main.js; this build's when undefined. */
  main?: string;
  env?: NodeJS.ProcessEnv;
}

/** The two variants an A/B run alternates (A is measured against B), if one is asked for. */
function abPair(): { kind: "baseline" | "metrics"; label: string; a: Variant; b: Variant } | undefined {
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
    label: "CPU/session metrics on / off (medians)",
    a: { name: "metrics-on", note: "this build, metrics on", env: on },
    b: {
      name: "metrics-off",
      note: "this build, TRUNKLINE_METRICS=off",
      env: { ...on, TRUNKLINE_METRICS: "off" },
    },
  };
}

// ---------------------------------------------------------------------------------------
// /proc readers (Linux only; the benchmark says so and stops elsewhere)

const CLK_TCK = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** utime + stime of the whole process (all its threads), in ms. proc(5): fields 14 and 15. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; the fields after its closing paren do not.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function openFilesLimit(pid: number | "self"): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  const n = (s: string | undefined) =>
    s === "unlimited" || s === undefined ? Number.MAX_SAFE_INTEGER : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** True once something listens on 127.0.0.1:port (read from /proc/net/tcp, so no probe connection). */
function isListening(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === want && f[3] === "0A";
    });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const addr = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (addr === null || typeof addr === "string") throw new Error("no free port");
  return addr.port;
}

// ---------------------------------------------------------------------------------------
// Children

type Event = Record<string, unknown> & { event?: string };

/** A child process whose stdout is JSON lines (our own scripts) or just kept for diagnostics. */
class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly events: Event[] = [];
  exited: number | string | null = null;
  private output = "";
  private partial = "";
  private listeners: Array<(e: Event) => void> = [];

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    if (proc.pid === undefined) throw new Error(`${name}: could not start`);
    this.pid = proc.pid;
    const keep = (chunk: Buffer) => {
      // Only the tail is kept: enough to explain a failure, bounded whatever the child says.
      this.output = (this.output + chunk.toString("utf8")).slice(-8192);
    };
    proc.stdout?.on("data", (chunk: Buffer) => {
      keep(chunk);
      const lines = (this.partial + chunk.toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        let e: Event;
        try {
          e = JSON.parse(line) as Event;
        } catch {
          continue;
        }
        this.events.push(e);
        for (const l of this.listeners) l(e);
      }
    });
    proc.stderr?.on("data", keep);
    proc.on("exit", (code, signal) => {
      this.exited = code ?? signal ?? "exited";
    });
  }

  onEvent(fn: (e: Event) => void): void {
    this.listeners.push(fn);
  }

  tail(): string {
    return this.output.trim().split("\n").slice(-15).join("\n");
  }

  /** Resolves with the first event named `name` (also one that already came). */
  waitFor(name: string, timeoutMs: number): Promise<Event> {
    const seen = this.events.find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`${this.name}: no "${name}" within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const poll = setInterval(() => {
        if (this.exited !== null) {
          clearTimeout(timer);
          clearInterval(poll);
          const late = this.events.find((e) => e.event === name);
          if (late) resolve(late);
          else reject(new Error(`${this.name} exited (${this.exited}) before "${name}"\n${this.tail()}`));
        }
      }, 50);
      this.onEvent((e) => {
        if (e.event !== name) return;
        clearTimeout(timer);
        clearInterval(poll);
        resolve(e);
      });
    });
  }

  send(line: string): void {
    if (this.exited === null) this.proc.stdin?.write(`${line}\n`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.exited !== null) return;
    const gone = new Promise<void>((r) => this.proc.once("exit", () => r()));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(t);
  }
}

const children = new Set<Child>();
let fdTarget = 0;

/**
 * Spawns through `sh` to raise the open-files limit to `fdTarget` first (5,000 held sessions
 * need over 10,000 descriptors in the proxy); `exec` keeps the PID the program's own.
 */
function launch(
  name: string,
  cmd: string,
  args: string[],
  opts: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {},
): Child {
  const proc = spawn("sh", ["-c", `ulimit -n ${fdTarget} 2>/dev/null; exec "$@"`, "sh", cmd, ...args], {
    cwd: ROOT,
    stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    env: opts.env ?? process.env,
  });
  const c = new Child(name, proc);
  children.add(c);
  proc.on("exit", () => children.delete(c));
  return c;
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

function killAllNow(): void {
  for (const c of children) if (c.exited === null) c.proc.kill("SIGKILL");
}

// ---------------------------------------------------------------------------------------
// Targets

interface Target {
  name: string;
  ports: number[];
  /** The PID whose CPU counts as the target's, if it is a proxy. */
  pid?: number;
  note: string;
}

async function startTrunkline(
  dir: string,
  name: string,
  servers: number[],
  main = join(ROOT, "dist/cli/main.js"),
  env?: NodeJS.ProcessEnv,
): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      "log: { level: warn }",
      "shutdown_timeout: 2s",
      `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${port} } ]`,
      "routes: [ { listener: agi, pool: main } ]",
      "pools:",
      "  main:",
      "    balance: least-sessions",
      `    servers: [ ${servers.map((p) => `{ address: 127.0.0.1:${p} }`).join(", ")} ]`,
      "",
    ].join("\n"),
  );
  const child = launch(name, process.execPath, [main, "run", "-c", cfg, "--no-watch"], env ? { env } : {});
  await waitListening(name, child, port);
  return { child, port };
}

/** Waits until a proxy child listens; fails with its last output if it exits first. */
async function waitListening(name: string, child: Child, port: number): Promise<void> {
  await waitUntil(
    `${name} to listen on ${port}`,
    () => {
      if (child.exited !== null) throw new Error(`${name} exited (${child.exited}) before listening`);
      return isListening(port);
    },
    15_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; exit: ${child.exited}\n${child.tail()}`);
  });
}

async function startHaproxy(
  dir: string,
  name: string,
  servers: number[],
): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const cfg = join(dir, `${name}.cfg`);
  // Descriptors: two per session plus a few; haproxy checks maxconn against its limit itself.
  const maxconn = Math.max(1_000, Math.min(20_000, Math.floor((fdTarget - 200) / 2)));
  writeFileSync(
    cfg,
    [
      "global",
      "  nbthread 1",
      `  maxconn ${maxconn}`,
      "defaults",
      "  mode tcp",
      "  timeout connect 1s",
      "  timeout client 60s",
      "  timeout server 60s",
      "frontend agi",
      `  bind 127.0.0.1:${port}`,
      "  default_backend main",
      "backend main",
      "  balance leastconn",
      ...servers.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`),
      "",
    ].join("\n"),
  );
  const child = launch(name, HAPROXY, ["-f", cfg, "-db"]);
  await waitListening(name, child, port);
  return { child, port };
}

interface RunResult {
  target: string;
  note: string;
  sessions: number;
  seconds: number;
  sessions_per_s: number;
  rtt_p50_ms: number | null;
  rtt_p99_ms: number | null;
  setup_p50_ms: number | null;
  setup_p99_ms: number | null;
  cpu_ms_per_session: number | null;
  proxy_cpu_pct: number | null;
  upstream_cpu_pct: number;
  loadgen_cpu_pct: number;
  machine_busy_cores: number;
  /** Busy cores not used by the three processes of the run: other work on a shared machine. */
  other_busy_cores: number;
  errors: number;
  error_kinds: Record<string, number>;
}

interface Settings {
  concurrency: number;
  seconds: number;
  warmup: number;
}

/** One measured run: warm-up, then CPU of target/upstream/machine sampled on the loadgen's marks. */
async function measure(target: Target, upstreamPid: number, s: Settings): Promise<RunResult> {
  const lg = launch(`loadgen→${target.name}`, process.execPath, [
    join(HERE, "loadgen.mjs"),
    "--ports",
    target.ports.join(","),
    "--concurrency",
    String(s.concurrency),
    "--seconds",
    String(s.seconds),
    "--warmup",
    String(s.warmup),
  ]);
  type Sample = {
    proxy: number;
    upstream: number;
    loadgen: number;
    machine: { busy: number; total: number };
    at: number;
  };
  const sample = (): Sample => ({
    proxy: target.pid === undefined ? 0 : cpuMs(target.pid),
    upstream: cpuMs(upstreamPid),
    loadgen: cpuMs(lg.pid),
    machine: machineCpu(),
    at: performance.now(),
  });
  const marks: Partial<Record<"measure" | "end", Sample>> = {};
  // Sampled in the stdout handler itself, so the window matches the loadgen's to a few ms.
  lg.onEvent((e) => {
    if (e.event === "measure" || e.event === "end") marks[e.event] = sample();
  });
  const r = (await lg.waitFor("result", (s.warmup + s.seconds) * 1000 + 20_000)) as unknown as {
    sessions: number;
    seconds: number;
    sessions_per_s: number;
    errors: number;
    error_kinds: Record<string, number>;
    rtt: { p50_ms: number | null; p99_ms: number | null };
    setup: { p50_ms: number | null; p99_ms: number | null };
    loadgen_cpu_pct: number;
  };
  const a = marks.measure;
  const b = marks.end;
  if (!a || !b) throw new Error(`${lg.name}: missing measure/end marks`);
  const wallMs = b.at - a.at;
  const proxyMs = b.proxy - a.proxy;
  const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
  const machineCores =
    ((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * cpus().length;
  const oursCores = (proxyMs + (b.upstream - a.upstream) + (b.loadgen - a.loadgen)) / wallMs;
  return {
    target: target.name,
    note: target.note,
    sessions: r.sessions,
    seconds: r.seconds,
    sessions_per_s: r.sessions_per_s,
    rtt_p50_ms: r.rtt.p50_ms,
    rtt_p99_ms: r.rtt.p99_ms,
    setup_p50_ms: r.setup.p50_ms,
    setup_p99_ms: r.setup.p99_ms,
    cpu_ms_per_session: target.pid === undefined || r.sessions === 0 ? null : round(proxyMs / r.sessions, 4),
    proxy_cpu_pct: target.pid === undefined ? null : round((proxyMs / wallMs) * 100, 1),
    upstream_cpu_pct: round(((b.upstream - a.upstream) / wallMs) * 100, 1),
    loadgen_cpu_pct: r.loadgen_cpu_pct,
    machine_busy_cores: round(machineCores, 2),
    other_busy_cores: round(Math.max(0, machineCores - oursCores), 2),
    errors: r.errors,
    error_kinds: r.error_kinds,
  };
}

interface IdleResult {
  target: string;
  sessions_held: number;
  hold_errors: number;
  rss_before_kib: number;
  rss_after_kib: number;
  kib_per_session: number;
  fds_before: number;
  fds_after: number;
}

/**
 * Memory of an idle session: the header went through, the upstream says nothing. A first
 * round of HOLD_WARMUP_SESSIONS is opened and closed so that the baseline already includes
 * the code paths' one-time costs (JIT, first heap growth), then HOLD_SESSIONS are held.
 */
async function measureIdle(name: string, pid: number, port: number, count: number): Promise<IdleResult> {
  const hold = async (n: number) => {
    const lg = launch(
      `hold→${name}`,
      process.execPath,
      [join(HERE, "loadgen.mjs"), "--ports", String(port), "--hold", String(n), "--concurrency", "200"],
      { stdin: true },
    );
    const held = (await lg.waitFor("held", 60_000)) as { held: number; errors: number };
    return { lg, held };
  };
  const fds0 = fdCount(pid);
  const warm = await hold(Math.min(HOLD_WARMUP_SESSIONS, count));
  await waitUntil(
    `${name} to hold the warm-up sessions`,
    () => fdCount(pid) >= fds0 + 2 * warm.held.held,
    20_000,
  );
  warm.lg.send("release");
  await warm.lg.waitFor("released", 10_000);
  await waitUntil(`${name} to close the warm-up sessions`, () => fdCount(pid) <= fds0 + 2, 20_000);
  await sleep(1_000);
  const before = rssKiB(pid);
  const fdsBefore = fdCount(pid);
  const run = await hold(count);
  // "The proxy has them all": both of its sockets of every session are open.
  await waitUntil(
    `${name} to hold ${run.held.held} sessions`,
    () => fdCount(pid) >= fdsBefore + 2 * run.held.held,
    30_000,
  );
  await sleep(1_000);
  const after = rssKiB(pid);
  const fdsAfter = fdCount(pid);
  run.lg.send("release");
  await run.lg.waitFor("released", 10_000).catch(() => undefined);
  return {
    target: name,
    sessions_held: run.held.held,
    hold_errors: run.held.errors,
    rss_before_kib: before,
    rss_after_kib: after,
    kib_per_session: Math.round(((after - before) / Math.max(1, run.held.held)) * 100) / 100,
    fds_before: fdsBefore,
    fds_after: fdsAfter,
  };
}

// ---------------------------------------------------------------------------------------
// Report

function envInt(name: string, dflt: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name} must be a number in [${min}, ${max}], got "${raw}"`);
  return n;
}

const fmt = (x: number | null | undefined, d = 2) =>
  x === null || x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(d);

function machineInfo(): Record<string, string | number> {
  const cpu = cpus();
  const hv = spawnSync(HAPROXY, ["-v"], { encoding: "utf8" });
  const mem = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memory_gib: mem ? Math.round(Number(mem[1]) / 1024 / 1024) : 0,
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    node: process.version,
    haproxy: (hv.stdout ?? "").split("\n")[0]?.trim() || "not found",
    load_average_at_start: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

interface Verdict {
  check: string;
  bar: string;
  value: string;
  pass: boolean | null;
}

function markdown(report: {
  date: string;
  machine: Record<string, string | number>;
  settings: Settings;
  runs: RunResult[];
  ratios: Record<string, number | null>;
  idle: IdleResult[];
  verdicts: Verdict[];
  notes: string[];
}): string {
  const m = report.machine;
  const lines = [
    `# FastAGI benchmark — ${report.date}`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, Linux ${m.kernel}, Node ${m.node}, ${m.haproxy}; load average at start ${m.load_average_at_start}.`,
    `Load: ${report.settings.concurrency} concurrent sessions, ${report.settings.warmup} s warm-up + ${report.settings.seconds} s measured per target; each session = Asterisk 23.4.1 header, 3 command round trips, close by the server.`,
    "Trunkline runs on one Node thread (plus V8/libuv helper threads, counted in its CPU); HAProxy runs with `nbthread 1`.",
    "",
    "| target | sessions/s | RTT p50 ms | RTT p99 ms | setup p50 ms | setup p99 ms | proxy CPU ms/session | proxy CPU % | upstream CPU % | loadgen CPU % | machine busy cores | of which others | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...report.runs.map(
      (r) =>
        `| ${r.target} | ${fmt(r.sessions_per_s, 0)} | ${fmt(r.rtt_p50_ms, 3)} | ${fmt(r.rtt_p99_ms, 3)} | ${fmt(r.setup_p50_ms, 3)} | ${fmt(r.setup_p99_ms, 3)} | ${fmt(r.cpu_ms_per_session, 4)} | ${fmt(r.proxy_cpu_pct, 1)} | ${fmt(r.upstream_cpu_pct, 1)} | ${fmt(r.loadgen_cpu_pct, 1)} | ${fmt(r.machine_busy_cores, 2)} | ${fmt(r.other_busy_cores, 2)} | ${r.errors} |`,
    ),
    "",
    "| ratio | value |",
    "| --- | ---: |",
    ...Object.entries(report.ratios).map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`),
    "",
    "| idle sessions | held | RSS before KiB | RSS after KiB | KiB/session | fds before → after |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...report.idle.map(
      (i) =>
        `| ${i.target} | ${i.sessions_held} | ${i.rss_before_kib} | ${i.rss_after_kib} | ${fmt(i.kib_per_session, 2)} | ${i.fds_before} → ${i.fds_after} |`,
    ),
    "",
    "| bar (issue 2) | required | measured | verdict |",
    "| --- | --- | --- | --- |",
    ...report.verdicts.map(
      (v) => `| ${v.check} | ${v.bar} | ${v.value} | ${v.pass === null ? "n/a" : v.pass ? "PASS" : "FAIL"} |`,
    ),
    "",
    ...(report.notes.length ? ["Notes:", "", ...report.notes.map((n) => `- ${n}`), ""] : []),
  ];
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------
// Main

export async function main(): Promise<number> {
  if (process.platform !== "linux") {
    process.stderr.write("the benchmark reads /proc: Linux only\n");
    return 1;
  }
  const settings: Settings = {
    concurrency: envInt("BENCH_CONCURRENCY", 32, 1, 2_000),
    seconds: envInt("BENCH_SECONDS", 8, 1, 120),
    warmup: 1,
  };
  const notes: string[] = [];
  const lim = openFilesLimit("self");
  fdTarget = Math.min(65_536, lim.hard);
  const needed = 2 * HOLD_SESSIONS + 500;
  let holdCount = HOLD_SESSIONS;
  if (fdTarget < needed) {
    holdCount = Math.max(100, Math.floor((fdTarget - 500) / 2));
    notes.push(
      `open-files hard limit is ${lim.hard}: the idle test holds ${holdCount} sessions instead of ${HOLD_SESSIONS} (raise it with ulimit -Hn as root)`,
    );
  }
  const haveHaproxy = existsSync(HAPROXY);
  if (!haveHaproxy) notes.push(`${HAPROXY} not found: the HAProxy figures and the bar's ratios are n/a`);

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
  const machine = machineInfo();
  try {
    say(
      `FastAGI benchmark: ${settings.concurrency} concurrent sessions, ${settings.warmup} s warm-up + ${settings.seconds} s per target, ${machine.cores} cores (${machine.cpu}), load average ${machine.load_average_at_start}`,
    );
    say("Trunkline is one Node thread; HAProxy runs with nbthread 1 to match.");
    const up = launch("upstream", process.execPath, [join(HERE, "upstream.mjs"), "--ports", "2"], {
      stdin: true,
    });
    const upHold = launch(
      "upstream --hold",
      process.execPath,
      [join(HERE, "upstream.mjs"), "--ports", "2", "--hold"],
      {
        stdin: true,
      },
    );
    const upPorts = (await up.waitFor("listening", 10_000)).ports as number[];
    const holdPorts = (await upHold.waitFor("listening", 10_000)).ports as number[];
    const gotLimit = openFilesLimit(up.pid).soft;
    if (gotLimit < needed) notes.push(`children run with an open-files limit of ${gotLimit}`);

    const runs: RunResult[] = [];
    const report = (r: RunResult) => {
      runs.push(r);
      say(
        `  ${r.target.padEnd(10)} ${fmt(r.sessions_per_s, 0).padStart(7)} sessions/s  RTT p50 ${fmt(r.rtt_p50_ms, 3)} ms p99 ${fmt(r.rtt_p99_ms, 3)} ms  CPU ${fmt(r.cpu_ms_per_session, 4)} ms/session  errors ${r.errors}`,
      );
    };

    say("running (a) direct: sessions alternate between the 2 upstream ports");
    report(await measure({ name: "direct", ports: upPorts, note: "no proxy" }, up.pid, settings));

    say("running (b) Trunkline");
    const tl = await startTrunkline(dir, "trunkline", upPorts);
    report(
      await measure(
        { name: "trunkline", ports: [tl.port], pid: tl.child.pid, note: "least-sessions, 1 Node thread" },
        up.pid,
        settings,
      ),
    );
    await tl.child.stop();

    // Two variants of Trunkline in the same run, alternating for BENCH_AB_ROUNDS pairs (ABBA
    // order) because run-to-run noise on a shared 2-core machine is about ±5%, as large as
    // the difference sought; the verdict compares medians of CPU per session.
    // - BENCH_BASELINE=path/to/other/dist/cli/main.js: another build (old vs new);
    // - BENCH_METRICS_AB=1: this build with metrics on and with TRUNKLINE_METRICS=off.
    const pair = abPair();
    const ab: { a: number[]; b: number[] } = { a: [], b: [] };
    if (pair) {
      const rounds = envInt("BENCH_AB_ROUNDS", 3, 1, 20);
      const once = async (which: "a" | "b", round: number) => {
        const v = pair[which];
        const name = `${v.name}-ab${round}`;
        say(`running (b') ${name}${v.main ? `: ${v.main}` : ""}`);
        const inst = await startTrunkline(dir, name, upPorts, v.main, v.env);
        const r = await measure(
          { name, ports: [inst.port], pid: inst.child.pid, note: v.note },
          up.pid,
          settings,
        );
        report(r);
        if (r.cpu_ms_per_session !== null) ab[which].push(r.cpu_ms_per_session);
        await inst.child.stop();
      };
      for (let i = 1; i <= rounds; i++) {
        const order: ("a" | "b")[] = i % 2 === 1 ? ["b", "a"] : ["a", "b"];
        for (const w of order) await once(w, i);
      }
      if (ab.a.length > 0 && ab.b.length > 0)
        say(
          `${pair.label}: ${fmt(median(ab.a) / median(ab.b), 3)} (${fmt(median(ab.a), 4)} / ${fmt(median(ab.b), 4)} ms)`,
        );
    }

    if (haveHaproxy) {
      say("running (c) HAProxy");
      const hp = await startHaproxy(dir, "haproxy", upPorts);
      report(
        await measure(
          { name: "haproxy", ports: [hp.port], pid: hp.child.pid, note: "mode tcp, leastconn, nbthread 1" },
          up.pid,
          settings,
        ),
      );
      await hp.child.stop();
    }

    const idle: IdleResult[] = [];
    say(`idle memory: ${holdCount} silent sessions through Trunkline`);
    const tlHold = await startTrunkline(dir, "trunkline-idle", holdPorts);
    idle.push(await measureIdle("trunkline", tlHold.child.pid, tlHold.port, holdCount));
    await tlHold.child.stop();
    if (haveHaproxy) {
      say(`idle memory: ${holdCount} silent sessions through HAProxy (for comparison)`);
      const hpHold = await startHaproxy(dir, "haproxy-idle", holdPorts);
      idle.push(await measureIdle("haproxy", hpHold.child.pid, hpHold.port, holdCount));
      await hpHold.child.stop();
    }

    const by = (n: string) => runs.find((r) => r.target === n);
    const t = by("trunkline");
    const d = by("direct");
    const h = by("haproxy");
    const ratio = (a: number | null | undefined, b: number | null | undefined) =>
      a === null || a === undefined || b === null || b === undefined || b === 0
        ? null
        : Math.round((a / b) * 1000) / 1000;
    const abRatio = ab.a.length > 0 && ab.b.length > 0 ? ratio(median(ab.a), median(ab.b)) : undefined;
    const ratios = {
      "sessions/s Trunkline / direct": ratio(t?.sessions_per_s, d?.sessions_per_s),
      "sessions/s Trunkline / HAProxy": ratio(t?.sessions_per_s, h?.sessions_per_s),
      "sessions/s HAProxy / direct": ratio(h?.sessions_per_s, d?.sessions_per_s),
      "CPU/session Trunkline / HAProxy": ratio(t?.cpu_ms_per_session, h?.cpu_ms_per_session),
      "RTT p50 Trunkline / direct": ratio(t?.rtt_p50_ms, d?.rtt_p50_ms),
      "RTT p50 Trunkline / HAProxy": ratio(t?.rtt_p50_ms, h?.rtt_p50_ms),
      ...(pair && abRatio !== undefined ? { [pair.label]: abRatio } : {}),
    };
    const rateRatio = ratios["sessions/s Trunkline / HAProxy"];
    const cpuRatio = ratios["CPU/session Trunkline / HAProxy"];
    const idleT = idle.find((i) => i.target === "trunkline");
    const metricsCost = pair?.kind === "metrics" ? abRatio : undefined;
    const verdicts: Verdict[] = [
      {
        check: "sessions/s vs HAProxy",
        bar: `≥ ${BAR.minRateVsHaproxy}×`,
        value: rateRatio === null ? "n/a" : `${rateRatio.toFixed(2)}×`,
        pass: rateRatio === null ? null : rateRatio >= BAR.minRateVsHaproxy,
      },
      {
        check: "CPU per session vs HAProxy",
        bar: `≤ ${BAR.maxCpuVsHaproxy}×`,
        value: cpuRatio === null ? "n/a" : `${cpuRatio.toFixed(2)}×`,
        pass: cpuRatio === null ? null : cpuRatio <= BAR.maxCpuVsHaproxy,
      },
      {
        check: `idle session memory (${idleT?.sessions_held ?? 0} open)`,
        bar: `< ${BAR.maxIdleKiB} KiB`,
        value: idleT ? `${idleT.kib_per_session.toFixed(2)} KiB` : "n/a",
        pass: idleT ? idleT.kib_per_session < BAR.maxIdleKiB && idleT.sessions_held >= HOLD_SESSIONS : null,
      },
      ...(metricsCost === undefined
        ? []
        : [
            {
              check: "metrics cost: CPU per session on / off",
              bar: `≤ ${BAR.maxMetricsCost}×`,
              value: metricsCost === null ? "n/a" : `${metricsCost.toFixed(3)}×`,
              pass: metricsCost === null ? null : metricsCost <= BAR.maxMetricsCost,
            },
          ]),
    ];

    // Is the load generator (or the machine) the limit rather than the proxy?
    for (const r of runs) {
      if (r.loadgen_cpu_pct >= 90)
        notes.push(
          `${r.target}: the load generator used ${r.loadgen_cpu_pct} % of a core: it may be the limit of this run`,
        );
      if (r.upstream_cpu_pct >= 90)
        notes.push(
          `${r.target}: the upstream process used ${r.upstream_cpu_pct} % of a core: it may be the limit of this run`,
        );
      if (r.machine_busy_cores >= 0.9 * cpus().length) {
        notes.push(
          `${r.target}: all cores were busy (${r.machine_busy_cores} of ${cpus().length}, ${r.other_busy_cores} of them outside this benchmark): the processes shared the cores, so sessions/s depends on the scheduler; CPU per session does not`,
        );
      }
      if (r.other_busy_cores >= 0.25) {
        notes.push(
          `${r.target}: other work on the machine used ${r.other_busy_cores} cores during the run: its figures are noisy, rerun on a quiet machine to confirm`,
        );
      }
      if (r.errors > 0) notes.push(`${r.target}: ${r.errors} errors ${JSON.stringify(r.error_kinds)}`);
    }
    const fastestProxy = Math.max(t?.sessions_per_s ?? 0, h?.sessions_per_s ?? 0);
    if (d && fastestProxy > 0) {
      const headroom = Math.round((d.sessions_per_s / fastestProxy) * 100) / 100;
      notes.push(
        headroom >= 1.2
          ? `direct runs ${headroom}× the fastest proxy: the load generator and upstream are not what limits the proxy runs`
          : `direct runs only ${headroom}× the fastest proxy: the load generator and upstream, not the proxy, may bound sessions/s here; compare the proxies by CPU per session, which does not depend on that`,
      );
    }
    for (const i of idle)
      if (i.hold_errors > 0) notes.push(`idle ${i.target}: ${i.hold_errors} sessions failed to open`);

    const date = new Date().toISOString();
    const result = { date, machine, settings, runs, ratios, idle, bar: BAR, verdicts, notes };

    say("");
    const md = markdown(result);
    say(md);
    const outDir = join(ROOT, "bench", "results");
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, `fastagi-${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
    writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(outDir, "fastagi-latest.md"), md);
    say(`written: ${jsonFile.slice(ROOT.length + 1)} and bench/results/fastagi-latest.md`);
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
