/**
 * `trunkline run --takeover --pid-file P`: an upgrade with no session dropped. The new
 * process binds every address beside the running one (SO_REUSEPORT), and only then sends it
 * SIGTERM, its graceful stop: it stops accepting and its sessions run to their end while
 * new ones land here. This module finds that process and tells it; cli/run.ts drives it.
 */

import { readFileSync, readlinkSync } from "node:fs";
import { resolve } from "node:path";
import { errorMessage } from "../core/errors.ts";
import { reusePortSupported } from "../net/reuse-port.ts";
import { readPidFile } from "./pid-file.ts";

/** Why this Node cannot take over (one line), or undefined when it can. */
export function takeoverRefusal(
  version: string = process.versions.node,
  platform: string = process.platform,
): string | undefined {
  if (reusePortSupported(version, platform)) return undefined;
  if (platform !== "linux" && platform !== "freebsd")
    return `--takeover needs SO_REUSEPORT (Linux or FreeBSD); this is ${platform}`;
  return `--takeover needs Node >= 22.12 (SO_REUSEPORT); this is Node ${version}`;
}

/** The process a takeover stops; none (start as a new process, saying why); or refused (exit 1). */
export type Predecessor =
  | { readonly kind: "running"; readonly pid: number }
  | { readonly kind: "none"; readonly reason: string }
  | { readonly kind: "refused"; readonly reason: string };

/** What is asked of the system about a pid (a seam for tests). */
export interface ProcessProbe {
  /** `kill(pid, 0)`: alive and ours to signal, gone, or someone else's. */
  state(pid: number): "alive" | "gone" | "not-permitted";
  /** Its command line (Linux: /proc/PID/cmdline); undefined where that cannot be read. */
  argv(pid: number): readonly string[] | undefined;
  /** Its working directory (Linux: /proc/PID/cwd), for a relative `--pid-file`; undefined if unknown. */
  cwd?(pid: number): string | undefined;
  signal(pid: number): void;
}

export const systemProbe: ProcessProbe = {
  state(pid) {
    try {
      process.kill(pid, 0);
      return "alive";
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM" ? "not-permitted" : "gone";
    }
  },
  argv(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8")
        .split("\0")
        .filter((a) => a !== "");
    } catch {
      return undefined;
    }
  },
  cwd(pid) {
    try {
      return readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      return undefined;
    }
  },
  signal(pid) {
    process.kill(pid, "SIGTERM");
  },
};

/**
 * Whether a command line is a `trunkline run` given this very pid file: `run`, then
 * `--pid-file P` (or `--pid-file=P`) where P, resolved in that process's directory, is the
 * same path. Merely naming the file is not enough: `tail -f trunkline.pid`, or another proxy
 * whose pid file has the same name in another folder, must never get our SIGTERM.
 */
export function runsWithPidFile(argv: readonly string[], pidFile: string, cwd: string | undefined): boolean {
  if (!argv.includes("run")) return false;
  const want = resolve(pidFile);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = a === "--pid-file" ? argv[i + 1] : a.startsWith("--pid-file=") ? a.slice(11) : undefined;
    if (v !== undefined && resolve(cwd ?? process.cwd(), v) === want) return true;
  }
  return false;
}

/**
 * Reads the pid file and checks the pid is a live `trunkline run` that wrote it: a pid file
 * outlives a crash, and its number may since belong to another program, which must never get
 * our SIGTERM. The check is that its command line is a `trunkline run` started with
 * `--pid-file` naming this same file (runsWithPidFile); where command lines cannot be read,
 * liveness alone.
 */
export function findPredecessor(
  pidFile: string,
  probe: ProcessProbe = systemProbe,
  self: number = process.pid,
): Predecessor {
  let c: ReturnType<typeof readPidFile>;
  try {
    c = readPidFile(pidFile);
  } catch (err) {
    return { kind: "refused", reason: `cannot read the pid file ${pidFile}: ${errorMessage(err)}` };
  }
  if (c.kind === "missing") return { kind: "none", reason: `no pid file ${pidFile}` };
  if (c.kind === "invalid") return { kind: "none", reason: `pid file ${pidFile} holds no pid ("${c.text}")` };
  const pid = c.pid;
  const stale = `stale pid file ${pidFile}: pid ${pid}`;
  if (pid === self) return { kind: "none", reason: `${stale} is this process` };
  const state = probe.state(pid);
  if (state === "gone") return { kind: "none", reason: `${stale} is not running` };
  if (state === "not-permitted")
    return {
      kind: "refused",
      reason: `pid ${pid} (${pidFile}) runs as another user: cannot signal it; run as its user`,
    };
  const argv = probe.argv(pid);
  if (argv !== undefined && !runsWithPidFile(argv, pidFile, probe.cwd?.(pid)))
    return { kind: "none", reason: `${stale} is another program (${argv.join(" ").slice(0, 80)})` };
  return { kind: "running", pid };
}

export type StopOutcome =
  | { readonly kind: "signalled"; readonly pid: number }
  | { readonly kind: "gone"; readonly reason: string };

/**
 * Sends the predecessor SIGTERM once this process listens everywhere. Checked again first:
 * it may have exited meanwhile, or another takeover may have replaced it in the pid file.
 */
export function stopPredecessor(
  pidFile: string,
  pid: number,
  probe: ProcessProbe = systemProbe,
): StopOutcome {
  const now = findPredecessor(pidFile, probe);
  if (now.kind !== "running") return { kind: "gone", reason: now.reason };
  if (now.pid !== pid)
    return {
      kind: "gone",
      reason: `pid file ${pidFile} now names pid ${now.pid}, not ${pid}: not signalled`,
    };
  try {
    probe.signal(pid);
    return { kind: "signalled", pid };
  } catch (err) {
    return { kind: "gone", reason: `pid ${pid} could not be signalled: ${errorMessage(err)}` };
  }
}

export const MIGRATE_REQ_FILE = "/proc/sys/net/ipv4/tcp_migrate_req";

/**
 * Linux (5.14+) resets the connections still in a closed listener's accept queue unless
 * net.ipv4.tcp_migrate_req=1 hands them to another socket of its SO_REUSEPORT group. Said
 * when it is 0; a kernel without the file says nothing.
 */
export function migrateReqWarning(
  file: string = MIGRATE_REQ_FILE,
): { readonly setting: string; readonly value: string; readonly warning: string } | undefined {
  let value: string;
  try {
    value = readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
  if (value !== "0") return undefined;
  return {
    setting: "net.ipv4.tcp_migrate_req",
    value,
    warning:
      "net.ipv4.tcp_migrate_req is 0: when this proxy stops accepting (run --takeover, or a listener " +
      "replaced on reload), Linux resets the connections still queued on its listening sockets " +
      "instead of handing them to the process that shares the port; turn it on with " +
      "`sysctl -w net.ipv4.tcp_migrate_req=1` and a line in /etc/sysctl.d/",
  };
}
