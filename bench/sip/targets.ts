// What the SIPp caller calls in each ramp: an answerer itself (direct), Kamailio's dispatcher,
// or Trunkline's SIP pool. A proxy is started fresh for its ramp and stopped after it; one
// that cannot start (Trunkline before its SIP protocol exists) is reported unavailable with
// its first error line, and the other targets still run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cachedNode24, NODE22_VERSION } from "../fastagi/workers.ts";
import { type Child, launch } from "../lib/children.ts";
import { shippedNodeFlags } from "../lib/shipped.ts";
import { envInt } from "../lib/stats.ts";
import { dispatcherList, kamailioCfg } from "./kamailio-cfg.ts";
import { killPids, tree } from "./proctree.ts";
import { freeUdpPort, waitForSip } from "./sipp.ts";
import { variant } from "./variant.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const KAMAILIO = "/usr/sbin/kamailio";
export const KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";
export const TRUNKLINE_MAIN = join(ROOT, "dist/cli/main.js");
const READY_MS = 15_000;

export interface Target {
  name: string;
  /** The port the caller sends to. */
  port: number;
  note: string;
  /** The proxy's processes (root first); [] for direct. */
  pids: number[];
  /** Kamailio's `children` (UDP receivers) and its processes in all; Trunkline: 1 and 1. */
  workers: { receivers: number; processes: number } | null;
  /** Bytes the proxy has written to its stdout and stderr: their growth per call tells who logs per call. */
  logBytes?: () => number;
  stop(): Promise<void>;
}

export type Started = { target: Target } | { unavailable: string };

export function direct(answerer: number): Target {
  return {
    name: "direct",
    port: answerer,
    note: "caller → one answerer, no proxy",
    pids: [],
    workers: null,
    stop: async () => {},
  };
}

/** Readiness: an OPTIONS answered through the proxy, or why it never came. */
async function ready(child: Child, port: number): Promise<string | null> {
  try {
    await waitForSip(port, READY_MS, () =>
      child.exited === null ? null : `${child.name} exited (${child.exited})`,
    );
    return null;
  } catch (err) {
    const first = child
      .tail()
      .split("\n")
      .find((l) => l.trim() !== "");
    return `${(err as Error).message}${first ? `: ${first.trim()}` : ""}`;
  }
}

/**
 * Kamailio's shared memory (-m, MiB): its transaction store holds every transaction until its
 * wait timer ends, several seconds after the call, so it grows with the rate. With -m 512 it
 * ran out at 4,500 calls/s (SIPp saw its 500s as unexpected messages, with Kamailio at 22% of
 * a core): the bench measured Kamailio's memory setting, not its speed. With 2,048 it
 * sustained 6,000 calls/s (measured 2026-12-02), as sip.md's ~5,900. 4 GiB leaves room; the
 * pages are only touched as transactions use them. BENCH_KAMAILIO_SHM_MB overrides.
 */
const KAMAILIO_SHM_MB = String(envInt("BENCH_KAMAILIO_SHM_MB", 4_096, 64, 65_536));

/**
 * Kamailio, -m KAMAILIO_SHM_MB -M 32, in the foreground: `kamailio` with one UDP receiver,
 * `kamailio-c2` with two (beside Trunkline with two threads).
 */
export async function startKamailio(
  dir: string,
  answerers: readonly number[],
  children = 1,
  calls?: "dialog" | "cdr",
): Promise<Started> {
  const name =
    calls === "cdr"
      ? "kamailio-cdr"
      : calls === "dialog"
        ? "kamailio-dlg"
        : children === 1
          ? "kamailio"
          : `kamailio-c${children}`;
  if (!existsSync(KAMAILIO)) return { unavailable: `${KAMAILIO} not found (Debian package kamailio)` };
  const port = await freeUdpPort();
  const run = join(dir, `${name}-run`);
  mkdirSync(run, { recursive: true });
  const listFile = join(dir, `${name}-dispatcher.list`);
  writeFileSync(listFile, dispatcherList(answerers));
  const cfg = join(dir, `${name}.cfg`);
  writeFileSync(
    cfg,
    kamailioCfg({
      port,
      listFile,
      children,
      modulesDir: KAMAILIO_MODULES,
      ...(calls === undefined ? {} : { calls }),
    }),
  );
  // -DD: the creator stays in the foreground (its workers are still forked); -E: log to stderr.
  const child = launch(
    name,
    KAMAILIO,
    ["-f", cfg, "-DD", "-E", "-m", KAMAILIO_SHM_MB, "-M", "32", "-Y", run, "-P", join(run, "kamailio.pid")],
    { logFile: join(dir, `${name}.log`), stderrToLog: true },
  );
  const why = await ready(child, port);
  const pids = tree(child.pid);
  const stop = async () => {
    const all = tree(child.pid);
    await child.stop(3_000);
    // Its workers normally end with it; any left (the creator was SIGKILLed) go now.
    killPids(all.length > 1 ? all : pids, "kamailio");
  };
  if (why !== null) {
    await stop();
    return { unavailable: why };
  }
  return {
    target: {
      name,
      port,
      note: `dispatcher round robin (alg 4), tm, record_route, failure_route on 5xx/408/timeout${calls === "cdr" ? ", dialog (dlg_manage) and acc (a CDR line per call at its end, on stderr, to its log file)" : calls === "dialog" ? ", dialog (dlg_manage)" : ""}, children=${children}, -m ${KAMAILIO_SHM_MB} -M 32`,
      pids,
      workers: { receivers: children, processes: pids.length },
      logBytes: () => child.outputBytes(),
      stop,
    },
  };
}

export type Balance = "round-robin" | "least-sessions";

/** Trunkline from this build's dist/, the SIP pool of issue 13 over the two answerers. */
export async function startTrunkline(
  dir: string,
  name: string,
  balance: Balance,
  answerers: readonly number[],
): Promise<Started> {
  // …-ref: another build (BENCH_TRUNKLINE_REF=<its dist/cli/main.js>), for a same-run A/B;
  // …-wN: N threads (workers: N; SIP over UDP on each, reuse-port sockets, Node >= 22.12).
  const { base, threads, ref } = variant(name);
  const main = ref ? process.env.BENCH_TRUNKLINE_REF : TRUNKLINE_MAIN;
  if (main === undefined)
    return { unavailable: "…-ref needs BENCH_TRUNKLINE_REF=<another build's dist/cli/main.js>" };
  if (!existsSync(main)) return { unavailable: `${main} missing: npm run build` };
  const port = await freeUdpPort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      `workers: ${threads}`,
      `listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:${port}, transports: [udp] } ]`,
      "routes: [ { listener: sip, pool: fs } ]",
      "pools:",
      "  fs:",
      `    balance: ${balance}`,
      "    failover_codes: [500, 503, 408]",
      "    invite_timeout: 2s",
      `    servers: [ ${answerers.map((p) => `{ address: 127.0.0.1:${p} }`).join(", ")} ]`,
      // …-nolog: no line per call (the session line is logged at info), as Kamailio's plain config.
      base.endsWith("-nolog") ? "log: { level: warn }" : "",
      // BENCH_SIP_TRUNKLINE_YAML: more top-level config, for A/B runs (e.g. "log: { level: warn }").
      process.env.BENCH_SIP_TRUNKLINE_YAML ?? "",
      "",
    ].join("\n"),
  );
  // trunkline-rr-node24 (-node22): the same on Node 24 (22), this one when it is, else the
  // cached one of scripts/ensure-node24.sh; one thread as the others, but for -wN.
  // BENCH_REF_NODE_ARGS: Node flags for the -ref target alone (say the same build, another flag).
  const refArgs = ref ? (process.env.BENCH_REF_NODE_ARGS ?? "").split(" ").filter((a) => a !== "") : [];
  let node = process.execPath;
  let version = process.version;
  const major = base.endsWith("-node24") ? "24" : base.endsWith("-node22") ? "22" : undefined;
  if (major !== undefined && !process.version.startsWith(`v${major}.`)) {
    const cached = cachedNode24(ROOT, major === "22" ? NODE22_VERSION : undefined);
    if ("error" in cached) return { unavailable: `no Node ${major}: ${cached.error}` };
    node = cached.path;
    version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  }
  return startNode(
    dir,
    name,
    [...shippedNodeFlags(main), main, "run", "-c", cfg, "--no-watch"],
    port,
    `${ref ? `${main}${refArgs.length > 0 ? ` (${refArgs.join(" ")})` : ""}, ` : ""}${balance}, failover_codes [500, 503, 408], invite_timeout 2s, ${threads} Node thread${threads === 1 ? "" : "s"} (${version}), defaults`,
    node,
    refArgs,
  );
}

/** The Node floor (relay.mjs): a bare record-routing UDP relay over the two answerers. */
export async function startRelay(dir: string, answerers: readonly number[]): Promise<Started> {
  const port = await freeUdpPort();
  // Read as relay.mjs reads it (the child inherits the environment).
  const spin = Number(process.env.RELAY_SPIN_US ?? 0);
  const script = join(ROOT, "bench", "sip", "relay.mjs");
  return startNode(
    dir,
    "relay",
    [script, "--port", String(port), "--servers", answerers.join(",")],
    port,
    `bench/sip/relay.mjs: Node's floor, one dgram socket, Via/Route/Record-Route line edits only, 100 Trying, round robin; no checks, state, timers, logs or metrics${spin > 0 ? `; RELAY_SPIN_US=${spin}: ${spin} µs of busy work per datagram received` : ""}`,
  );
}

/**
 * A Node target listening on `port`, ready once an OPTIONS is answered through it. Its stdin
 * is a pipe (the relay exits when it closes). BENCH_NODE_ARGS: extra Node flags, the same for
 * Trunkline and the relay (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
 */
async function startNode(
  dir: string,
  name: string,
  args: readonly string[],
  port: number,
  note: string,
  node = process.execPath,
  extraArgs: readonly string[] = [],
): Promise<Started> {
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""), ...extraArgs];
  const child = launch(name, node, [...nodeArgs, ...args], {
    logFile: join(dir, `${name}.log`),
    stdin: true,
  });
  const why = await ready(child, port);
  if (why !== null) {
    await child.stop();
    return { unavailable: why };
  }
  return {
    target: {
      name,
      port,
      note,
      pids: [child.pid],
      workers: { receivers: 1, processes: 1 },
      logBytes: () => child.outputBytes(),
      stop: () => child.stop(),
    },
  };
}
