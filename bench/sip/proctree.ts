// A process and its descendants, read from /proc: Kamailio forks its workers (receivers,
// timers, the main process), so its CPU and memory are those of the whole tree. Node
// (Trunkline) and SIPp are one process each, a tree of one.
import { readdirSync, readFileSync } from "node:fs";
import { cpuTimes, rssKiB } from "../lib/procfs.ts";

/** ppid of `pid` (field 4 of /proc/PID/stat), or -1 when it is gone. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return -1;
  }
}

/** `root` and every live process below it. */
export function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const pp = parentOf(pid);
    const list = children.get(pp);
    if (list) list.push(pid);
    else children.set(pp, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  // Bounded: a pid is visited once, and /proc lists finitely many.
  const seen = new Set<number>();
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface TreeCpu {
  user: number;
  system: number;
}

/** User and system CPU ms of the processes in `pids` that are still alive. */
export function treeCpu(pids: readonly number[]): TreeCpu {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    try {
      const t = cpuTimes(pid);
      user += t.user;
      system += t.system;
    } catch {
      // exited between the listing and the read
    }
  }
  return { user, system };
}

/**
 * Memory of a tree in KiB: `pss` sums each process's proportional share (Pss of
 * /proc/PID/smaps_rollup), so pages that Kamailio's processes share (its -m shared memory,
 * the libraries) count once; `rss` sums VmRSS and counts them once per process.
 */
export function treeMemory(pids: readonly number[]): { pss: number; rss: number } {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
      pss += m ? Number(m[1]) : 0;
      rss += rssKiB(pid);
    } catch {
      // exited
    }
  }
  return { pss, rss };
}

/**
 * SIGKILL to each pid of `pids` (a tree listed before its root was stopped) that still runs
 * the program named `comm`: a pid reused by another program since the listing is left alone.
 */
export function killPids(pids: readonly number[], comm: string): void {
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== comm) continue;
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
