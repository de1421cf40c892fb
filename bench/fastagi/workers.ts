// `npm run bench -- fastagi --workers N` (issue 15): Trunkline with `workers: 1` and with
// `workers: N`, HAProxy with `nbthread 1` and `nbthread N`, in the same rounds. This file
// picks the Node that runs both Trunkline targets and reads each thread's sessions from the
// admin API; workers-report.ts turns the runs into ratios, the bar, notes and a table.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

/** The target names of the N-thread proxies. */
export const trunklineWorkers = (n: number) => `trunkline-w${n}`;
export const haproxyThreads = (n: number) => `haproxy-t${n}`;

/** The Node binary that runs both Trunkline targets, and why that one. */
export interface TrunklineNode {
  path: string;
  version: string;
  /** "the benchmark's own Node" or "the cached Node 24 (scripts/ensure-node24.sh)". */
  source: string;
}

/**
 * Binds two listeners to one port with `reusePort`: a Node that ignores the option (before
 * 22.12 and 23.1) fails the second with EADDRINUSE. Prints the version when it works.
 */
const PROBE = `const net = require("node:net");
const a = net.createServer();
a.listen({ host: "127.0.0.1", port: 0, reusePort: true }, () => {
  const b = net.createServer();
  b.once("error", () => process.exit(3));
  b.listen({ host: "127.0.0.1", port: a.address().port, reusePort: true }, () =>
    process.stdout.write(process.version, () => process.exit(0)));
});`;

/** The version of `node` if it can bind a port twice with `reusePort`; undefined otherwise. */
function reusePortVersion(node: string): string | undefined {
  const r = spawnSync(node, ["-e", PROBE], { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 && r.stdout.startsWith("v") ? r.stdout.trim() : undefined;
}

/** The Node 22 the benchmarks' `-node22` targets run on (the newest on the registry when added). */
export const NODE22_VERSION = "22.23.5";

/**
 * The cached Node 24's binary (scripts/ensure-node24.sh installs it when missing), or why not;
 * with a version, that one's (the script fetches it the same way).
 */
export function cachedNode24(root: string, version?: string): { path: string } | { error: string } {
  const r = spawnSync("bash", [join(root, "scripts", "ensure-node24.sh"), ...(version ? [version] : [])], {
    encoding: "utf8",
    timeout: 300_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const path = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  if (r.status !== 0 || path === "")
    return {
      error: `scripts/ensure-node24.sh failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`,
    };
  return { path };
}

/**
 * The benchmark's own Node when it has `reusePort`, else the cached Node 24 (installed by
 * scripts/ensure-node24.sh when missing); an error line when neither can be had.
 */
function trunklineNode(root: string): TrunklineNode | string {
  const own = reusePortVersion(process.execPath);
  if (own) return { path: process.execPath, version: own, source: "the benchmark's own Node" };
  const cached = cachedNode24(root);
  if ("error" in cached)
    return `--workers needs a Node with reusePort (>= 22.12); this is ${process.version} and ${cached.error}`;
  const path = cached.path;
  const version = reusePortVersion(path);
  if (!version)
    return `--workers needs a Node with reusePort (>= 22.12); ${path} cannot bind a port twice with it`;
  return { path, version, source: "the cached Node 24 (scripts/ensure-node24.sh)" };
}

/** What `--workers N` sets up: N, and the Node that runs both Trunkline targets. */
export interface WorkersSetup {
  n: number;
  node: TrunklineNode;
}

/** The setup for `--workers n`, or one line saying why it cannot run. */
export function workersSetup(n: number, root: string): WorkersSetup | string {
  const node = trunklineNode(root);
  return typeof node === "string" ? node : { n, node };
}

/** The targets of each round: the N-thread proxies beside the one-thread ones. */
export const roundKinds = (w: WorkersSetup, haveHaproxy: boolean): string[] => [
  "direct",
  "relay",
  "trunkline",
  trunklineWorkers(w.n),
  ...(haveHaproxy ? ["haproxy", haproxyThreads(w.n)] : []),
];

/** The report's note of each target that `--workers` adds or changes. */
export const workersKindNotes = (w: WorkersSetup): Record<string, string> => ({
  trunkline: `workers: 1, least-sessions, defaults, Node ${w.node.version}`,
  [trunklineWorkers(w.n)]: `workers: ${w.n}, least-sessions, defaults, Node ${w.node.version}`,
  [haproxyThreads(w.n)]: `mode tcp, leastconn, nbthread ${w.n}`,
});

/** One thread as the admin API's /api/v1/status lists it (0 is the main thread). */
export interface ThreadView {
  worker: number;
  alive: boolean;
  sessions_started: number;
}

/** The sessions each thread started over one proxy's life (warm-up, window and drain). */
export interface ThreadSessions {
  target: string;
  round: number | null;
  commands: number;
  /** Threads Trunkline was asked for (`workers:`). */
  want: number;
  /** As listed by /api/v1/status; empty with one thread (the API lists none then). */
  threads: ThreadView[];
}

/** Each thread's sessions, from the admin API of a Trunkline started with `admin:`. */
async function readThreads(adminPort: number): Promise<ThreadView[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/status`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`admin API on ${adminPort}: HTTP ${res.status}`);
  const body = (await res.json()) as { workers?: unknown };
  if (!Array.isArray(body.workers)) throw new Error(`admin API on ${adminPort}: no workers array in status`);
  return body.workers.map((w: Record<string, unknown>) => ({
    worker: Number(w.worker),
    alive: w.alive === true,
    sessions_started: Number(w.sessions_started),
  }));
}

/** One run's sessions per thread, read after its load generator ended. */
export async function threadSessions(
  adminPort: number,
  run: { target: string; round: number | null; commands: number; want: number },
): Promise<ThreadSessions> {
  return { ...run, threads: await readThreads(adminPort) };
}

/** "w0 12034 (51%), w1 11562 (49%)" */
export function describeThreads(t: ThreadSessions): string {
  if (t.threads.length === 0) return "one thread (the API lists none)";
  const total = t.threads.reduce((a, w) => a + w.sessions_started, 0);
  return t.threads
    .map(
      (w) =>
        `w${w.worker} ${w.sessions_started}${total > 0 ? ` (${Math.round((w.sessions_started / total) * 100)}%)` : ""}${w.alive ? "" : " dead"}`,
    )
    .join(", ");
}

/** Why this run's threads do not all show work: undefined when each of the `want` took sessions. */
export function threadProblem(t: ThreadSessions): string | undefined {
  if (t.want <= 1) return undefined;
  if (t.threads.length !== t.want) return `the admin API lists ${t.threads.length} threads, not ${t.want}`;
  const idle = t.threads.filter((w) => !(w.sessions_started > 0)).map((w) => `w${w.worker}`);
  if (idle.length) return `no sessions on ${idle.join(", ")}`;
  const dead = t.threads.filter((w) => !w.alive).map((w) => `w${w.worker}`);
  if (dead.length) return `not alive at the end: ${dead.join(", ")}`;
  return undefined;
}
