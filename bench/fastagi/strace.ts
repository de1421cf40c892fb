// System calls per session: `strace -c -f -p PID` attached to a proxy for one extra short
// window of load. strace slows its target a lot, so these windows count calls only; the CPU
// figures come from the runs without it.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launch } from "../lib/children.ts";
import { round } from "../lib/stats.ts";
import { waitUntil } from "../lib/wait.ts";
import { type LoadgenResult, loadgenTimeoutMs, startLoadgen } from "./measure.ts";
import type { Target } from "./targets.ts";

export const STRACE = "/usr/bin/strace";

/** The columns of the report, and the system calls each one counts. */
export const SYSCALL_GROUPS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["read", ["read", "readv", "recvfrom", "recvmsg"]],
  ["write", ["write", "writev", "sendto", "sendmsg"]],
  ["epoll_ctl", ["epoll_ctl"]],
  ["epoll_wait", ["epoll_wait", "epoll_pwait", "epoll_pwait2"]],
  ["accept", ["accept", "accept4"]],
  ["connect", ["connect"]],
  ["socket", ["socket"]],
  ["close", ["close"]],
  ["shutdown", ["shutdown"]],
  ["setsockopt", ["setsockopt"]],
  ["getsockopt", ["getsockopt"]],
  ["getpeer/sockname", ["getpeername", "getsockname"]],
  ["futex", ["futex"]],
];

export interface SyscallRow {
  syscall: string;
  calls: number;
  errors: number;
}

export interface StraceResult {
  target: string;
  commands: number;
  /** Sessions the load generator completed in the window, strace attached. */
  sessions: number;
  seconds: number;
  sessions_per_s: number;
  /** null when strace did not run or gave no summary (`error` says why). */
  calls_per_session: number | null;
  /** Per session, by SYSCALL_GROUPS, plus `others`. */
  groups: Record<string, number> | null;
  syscalls: SyscallRow[];
  error?: string;
}

/** Why strace cannot be used here, or undefined when it can. */
export function straceUnavailable(): string | undefined {
  if (!existsSync(STRACE)) return `${STRACE} not found`;
  const v = spawnSync(STRACE, ["-V"], { encoding: "utf8", timeout: 5_000 });
  if (v.status !== 0) return `${STRACE} -V failed: ${(v.stderr ?? v.error?.message ?? "").trim()}`;
  return undefined;
}

/**
 * strace -c's summary table: `% time, seconds, usecs/call, calls, errors, syscall`, the
 * errors column empty when there were none; the `total` row is left out.
 */
export function parseStraceSummary(text: string): { rows: SyscallRow[]; total: number } | undefined {
  const rows: SyscallRow[] = [];
  let total: number | undefined;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f.length > 6 || !/^\d/.test(f[0] ?? "")) continue;
    const syscall = f[f.length - 1] ?? "";
    const calls = Number(f[3]);
    const errors = f.length === 6 ? Number(f[4]) : 0;
    if (!Number.isFinite(calls)) continue;
    if (syscall === "total") total = calls;
    else rows.push({ syscall, calls, errors });
  }
  return total === undefined ? undefined : { rows, total };
}

function group(rows: SyscallRow[], sessions: number): Record<string, number> {
  const out: Record<string, number> = {};
  const known = new Set<string>();
  for (const [name, calls] of SYSCALL_GROUPS) {
    for (const c of calls) known.add(c);
    const n = rows.filter((r) => calls.includes(r.syscall)).reduce((a, r) => a + r.calls, 0);
    out[name] = round(n / sessions, 2);
  }
  const others = rows.filter((r) => !known.has(r.syscall)).reduce((a, r) => a + r.calls, 0);
  out.others = round(others / sessions, 2);
  return out;
}

/**
 * One window: the load generator warms up for `warmup` s, strace attaches, and once it says
 * so (all threads seized) the load generator opens its window; strace is stopped with
 * SIGINT at the window's end. The calls are divided by the sessions of the window.
 */
export async function straceWindow(
  target: Target,
  commands: number,
  s: { concurrency: number; seconds: number; warmup: number },
  dir: string,
): Promise<StraceResult> {
  const proxy = target.proxy;
  if (!proxy) throw new Error(`${target.name}: strace needs a proxy process`);
  const out = join(dir, `strace-${target.name}-${commands}.txt`);
  const lg = startLoadgen(target, commands, s, true);
  await lg.waitFor("warm", loadgenTimeoutMs(s));
  const st = launch(`strace→${target.name}`, STRACE, ["-c", "-f", "-p", String(proxy.pid), "-o", out], {
    logFile: join(dir, `strace-${target.name}-${commands}.stdout`),
  });
  let attachError: string | undefined;
  await waitUntil(
    "strace to attach",
    () => {
      if (st.exited !== null) throw new Error(`strace exited (${st.exited}) before attaching`);
      return /attached/.test(st.tail());
    },
    10_000,
    5,
  ).catch((err: Error) => {
    attachError = `${err.message}: ${st.tail() || "no output"}`;
  });
  lg.send("start");
  await lg.waitFor("end", loadgenTimeoutMs(s));
  await st.stop(10_000, "SIGINT");
  const r = (await lg.waitFor("result", loadgenTimeoutMs(s))) as unknown as LoadgenResult;
  const base = {
    target: target.name,
    commands,
    sessions: r.sessions,
    seconds: r.seconds,
    sessions_per_s: r.sessions_per_s,
  };
  let text = "";
  try {
    text = readFileSync(out, "utf8");
  } catch {
    // no summary written: said below
  }
  const parsed = parseStraceSummary(text);
  if (attachError || !parsed || r.sessions === 0) {
    const why =
      attachError ??
      (r.sessions === 0
        ? "no session completed in the window"
        : `strace gave no summary: ${st.tail() || "no output"}`);
    return { ...base, calls_per_session: null, groups: null, syscalls: [], error: why };
  }
  return {
    ...base,
    calls_per_session: round(parsed.total / r.sessions, 2),
    groups: group(parsed.rows, r.sessions),
    syscalls: parsed.rows,
  };
}
