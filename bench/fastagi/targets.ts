// The proxies under test, each started fresh for one measurement: Trunkline (this build or
// another), HAProxy in `mode tcp`, and the bare Node relay. Each one's stdout goes to a log
// file in the benchmark's temp dir, never through the orchestrator.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, launch } from "../lib/children.ts";
import { isListening, listeningSockets } from "../lib/procfs.ts";
import { shippedNodeFlags } from "../lib/shipped.ts";
import { freePort, waitUntil } from "../lib/wait.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
export const HAPROXY = "/usr/sbin/haproxy";
export const TRUNKLINE_MAIN = join(ROOT, "dist/cli/main.js");

/** What a load generator runs against: the upstream ports themselves, or a proxy. */
export interface Target {
  name: string;
  /** direct, relay, trunkline, haproxy, or an A/B variant's name. */
  kind: string;
  ports: number[];
  /** The proxy, whose CPU counts as the target's; none for direct. */
  proxy?: Child;
  /** Trunkline's admin API port, when started with one (--workers). */
  admin?: number;
  note: string;
}

export interface Started {
  child: Child;
  port: number;
  admin?: number;
}

/**
 * Waits until a proxy child listens (with `sockets` listening sockets on the port: one per
 * thread with SO_REUSEPORT); fails with its last output if it exits first.
 */
async function waitListening(name: string, child: Child, port: number, sockets = 1): Promise<void> {
  await waitUntil(
    `${name} to listen on ${port}${sockets > 1 ? ` with ${sockets} sockets` : ""}`,
    () => {
      if (child.exited !== null) throw new Error(`${name} exited (${child.exited}) before listening`);
      return sockets > 1 ? listeningSockets(port) >= sockets : isListening(port);
    },
    15_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; exit: ${child.exited}\n${child.tail()}`);
  });
}

export interface TrunklineOptions {
  /** Another build's dist/cli/main.js; this build's when undefined. */
  main?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** `log: { level }`; Trunkline's default (info) when undefined. */
  logLevel?: string | undefined;
  /** The Node binary that runs it; the benchmark's own when undefined. */
  node?: string | undefined;
  /** `workers: N` (written, 1 included, when defined); ready once every thread listens. */
  workers?: number | undefined;
  /** `admin: { listen: 127.0.0.1:PORT }`, to read each thread's sessions from /api/v1/status. */
  adminPort?: number | undefined;
}

/**
 * Trunkline at its defaults (log level info: one line per session; metrics on), one listener,
 * `least-sessions` over `servers`.
 */
export async function startTrunkline(
  dir: string,
  name: string,
  servers: number[],
  opts: TrunklineOptions = {},
): Promise<Started> {
  const port = await freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      ...(opts.logLevel === undefined ? [] : [`log: { level: ${opts.logLevel} }`]),
      "shutdown_timeout: 2s",
      ...(opts.workers === undefined ? [] : [`workers: ${opts.workers}`]),
      ...(opts.adminPort === undefined ? [] : [`admin: { listen: 127.0.0.1:${opts.adminPort} }`]),
      `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${port} } ]`,
      "routes: [ { listener: agi, pool: main } ]",
      "pools:",
      "  main:",
      "    balance: least-sessions",
      `    servers: [ ${servers.map((p) => `{ address: 127.0.0.1:${p} }`).join(", ")} ]`,
      "",
    ].join("\n"),
  );
  const main = opts.main ?? TRUNKLINE_MAIN;
  const child = launch(
    name,
    opts.node ?? process.execPath,
    [...shippedNodeFlags(main), main, "run", "-c", cfg, "--no-watch"],
    {
      logFile: join(dir, `${name}.log`),
      ...(opts.env ? { env: opts.env } : {}),
    },
  );
  await waitListening(name, child, port, opts.workers ?? 1);
  if (opts.adminPort === undefined) return { child, port };
  await waitListening(`${name}'s admin API`, child, opts.adminPort);
  return { child, port, admin: opts.adminPort };
}

/**
 * HAProxy, `mode tcp`, `balance leastconn`, `nbthread` 1 by default (Trunkline is one Node
 * thread unless `workers:` says more).
 */
export async function startHaproxy(
  dir: string,
  name: string,
  servers: number[],
  fdLimit: number,
  threads = 1,
): Promise<Started> {
  const port = await freePort();
  const cfg = join(dir, `${name}.cfg`);
  // Descriptors: two per session plus a few; haproxy checks maxconn against its limit itself.
  const maxconn = Math.max(1_000, Math.min(20_000, Math.floor((fdLimit - 200) / 2)));
  writeFileSync(
    cfg,
    [
      "global",
      `  nbthread ${threads}`,
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
  const child = launch(name, HAPROXY, ["-f", cfg, "-db"], { logFile: join(dir, `${name}.log`) });
  await waitListening(name, child, port);
  return { child, port };
}

/**
 * The bare Node relay (relay.mjs): Node's own floor for a TCP proxy; `lean`, the floor with
 * `onread` upstream and direct writes instead of pipe(); `batch`, lean with its writes held to
 * the end of each batch of events.
 */
export async function startRelay(
  dir: string,
  name: string,
  servers: number[],
  lean = false,
  batch = false,
): Promise<Started> {
  const port = await freePort();
  const child = launch(
    name,
    process.execPath,
    [
      ...[join(HERE, "relay.mjs"), "--port", String(port), "--upstream", servers.join(",")],
      ...(lean ? ["--lean", "1"] : []),
      ...(batch ? ["--batch", "1"] : []),
    ],
    { stdin: true, logFile: join(dir, `${name}.log`) },
  );
  await waitListening(name, child, port);
  return { child, port };
}
