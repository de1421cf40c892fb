// Entry of `npm run bench -- <protocol>`. Benchmarks run the built proxy (dist/), never
// the sources, so that they measure what ships; they build nothing themselves.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const USAGE = `usage: npm run bench -- <protocol>

protocols:
  fastagi   short FastAGI sessions played as Asterisk: direct vs bare Node relay vs Trunkline
            vs HAProxy in rounds, 3 and 2 commands per session, syscalls per session under
            strace, and idle-session memory
            (env: BENCH_SECONDS, default 6; BENCH_CONCURRENCY, default 32; BENCH_ROUNDS,
             default 3; BENCH_LOG_LEVEL, Trunkline's log level, default its own (info);
             BENCH_STRACE=0 skips strace; A/B rounds: BENCH_BASELINE=other/dist/cli/main.js
             or BENCH_METRICS_AB=1, BENCH_AB_ROUNDS, default 3; see bench/README.md)
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

const benches: Record<string, () => Promise<{ main: () => Promise<number> }>> = {
  fastagi: () => import("./fastagi/bench.ts"),
  sip: () => import("./sip/bench.ts"),
  http: () => import("./http/bench.ts"),
};

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : benches[name];
  if (!load || rest.length > 0) {
    if (name !== undefined && !load) process.stderr.write(`unknown benchmark "${name}"\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  if (!existsSync(fileURLToPath(new URL("../dist/cli/main.js", import.meta.url)))) {
    process.stderr.write("dist/cli/main.js is missing: run npm run build first\n");
    return 1;
  }
  return (await load()).main();
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
