// Entry of `npm run bench -- <protocol>`. Benchmarks run the built proxy (dist/), never
// the sources, so that they measure what ships; they build nothing themselves.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const USAGE = `usage: npm run bench -- <protocol>
       npm run bench -- fastagi --workers N     (N an integer from 2 to 16)

protocols:
  fastagi   short FastAGI sessions played as Asterisk: direct vs bare Node relay vs Trunkline
            vs HAProxy in rounds, 3 and 2 commands per session, syscalls per session under
            strace, and idle-session memory
            (env: BENCH_SECONDS, default 6; BENCH_CONCURRENCY, default 32; BENCH_ROUNDS,
             default 3; BENCH_LOG_LEVEL, Trunkline's log level, default its own (info);
             BENCH_STRACE=0 skips strace; A/B rounds: BENCH_BASELINE=other/dist/cli/main.js
             or BENCH_METRICS_AB=1, BENCH_AB_ROUNDS, default 3; see bench/README.md)
            --workers N: Trunkline with workers: 1 and workers: N (trunkline, trunkline-wN)
            and HAProxy with nbthread 1 and N (haproxy, haproxy-tN) in the same rounds, both
            Trunkline targets on one Node that has reusePort (this one, else the cached
            Node 24); CPU per session N / 1 (issue 15's bar: at most 1.10x), the scaling
            (sessions/s N / 1) and each thread's sessions
  sip       SIPp calls ramped in 5 s steps through Kamailio's dispatcher and through
            Trunkline (round-robin, least-sessions) over the same two SIPp answerers, plus
            direct: the highest rate with no failed call or retransmission, CPU and memory
            per call (env: BENCH_SIP_TARGETS, BENCH_SIP_START, BENCH_SIP_STEP, BENCH_SIP_MAX,
             BENCH_SIP_STEP_SECONDS, BENCH_SIP_HOLD_MS, BENCH_SIP_KEEP=1; see bench/README.md;
             the proxy core alone, no sockets: node --import tsx bench/sip/core.ts)
  http      wrk against one nginx origin directly, through Trunkline, through HAProxy and
            through nginx as a proxy, keep-alive on both sides, in interleaved rounds:
            requests/s, p50/p99, proxy CPU per request, ratios
            (env: BENCH_SECONDS, default 8; BENCH_ROUNDS, default 3; BENCH_CONCURRENCY,
             default 32; BENCH_WRK_THREADS, default 1; BENCH_HTTP_TARGETS; BENCH_LOG_LEVEL,
             Trunkline's log level, default its own (info: an access line per request))
`;

/** What a benchmark takes from the command line (only fastagi takes anything). */
export interface BenchArgs {
  /** `--workers N`: the Trunkline and HAProxy targets with N threads beside those with 1. */
  workers?: number;
}

const benches: Record<string, () => Promise<{ main: (args: BenchArgs) => Promise<number> }>> = {
  fastagi: () => import("./fastagi/bench.ts"),
  sip: () => import("./sip/bench.ts"),
  http: () => import("./http/bench.ts"),
};

/** The options after the protocol's name, or what is wrong with them. */
function parseArgs(name: string, rest: string[]): BenchArgs | string {
  if (rest.length === 0) return {};
  if (name !== "fastagi") return `${name} takes no options, got "${rest.join(" ")}"`;
  const [flag, value, ...more] = rest.length === 1 ? (rest[0] ?? "").split(/=(.*)/s) : rest;
  if (flag !== "--workers") return `unknown option "${rest[0]}"`;
  if (more.filter((m) => m !== "").length > 0) return `unexpected "${more.join(" ")}" after --workers`;
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || n < 2 || n > 16)
    return `--workers needs an integer from 2 to 16, got ${value === undefined || value === "" ? "nothing" : `"${value}"`}`;
  return { workers: n };
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : benches[name];
  const args = name === undefined || !load ? undefined : parseArgs(name, rest);
  if (!load || args === undefined || typeof args === "string") {
    if (name !== undefined && !load) process.stderr.write(`unknown benchmark "${name}"\n`);
    if (typeof args === "string") process.stderr.write(`bench ${name}: ${args}\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  if (!existsSync(fileURLToPath(new URL("../dist/cli/main.js", import.meta.url)))) {
    process.stderr.write("dist/cli/main.js is missing: run npm run build first\n");
    return 1;
  }
  return (await load()).main(args);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
