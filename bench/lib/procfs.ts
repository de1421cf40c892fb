// /proc readers for the benchmarks (Linux only: each benchmark says so and stops elsewhere).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

export const CLK_TCK = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU time of a whole process (all its threads), in ms: user and system apart. */
export interface CpuTimes {
  user: number;
  system: number;
}

/** utime and stime of `pid`, fields 14 and 15 of /proc/PID/stat (proc(5)), clock ticks → ms. */
export function cpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; the fields after its closing paren do not.
  // After it, index 0 is field 3 (state): field 14 is index 11, field 15 index 12.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: (Number(f[11]) * 1000) / CLK_TCK, system: (Number(f[12]) * 1000) / CLK_TCK };
}

/** utime + stime of `pid`, in ms. */
export function cpuMs(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function openFilesLimit(pid: number | "self"): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  const n = (s: string | undefined) =>
    s === "unlimited" || s === undefined ? Number.MAX_SAFE_INTEGER : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy cores of the machine between two machineCpu() samples. */
export function busyCores(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const total = b.total - a.total;
  return total > 0 ? ((b.busy - a.busy) / total) * cpus().length : 0;
}

/**
 * Listening sockets on 127.0.0.1:port (read from /proc/net/tcp, so no probe connection): one
 * per thread that bound it with SO_REUSEPORT.
 */
export function listeningSockets(port: number): number {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === want && f[3] === "0A";
    }).length;
}

/** True once something listens on 127.0.0.1:port. */
export const isListening = (port: number): boolean => listeningSockets(port) > 0;

/** The machine, for the report's header line. */
export function machineInfo(extra: Record<string, string> = {}): Record<string, string | number> {
  const cpu = cpus();
  const mem = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memory_gib: mem ? Math.round(Number(mem[1]) / 1024 / 1024) : 0,
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    node: process.version,
    ...extra,
    load_average_at_start: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}
