// BENCH_PIN=1: the proxy under test gets a core of its own (CPU 1) and the load generator and
// the origin share the other (CPU 0), for every target alike. On 2 cores, unpinned, the
// scheduler moves the three processes about, and a proxy's CPU per request then depends on
// how often its writes must wake a sleeping peer on the other core (an IPI, a VM exit under
// KVM): HAProxy's own cost per request measured 34 µs at full load and 86 µs at one
// connection on this machine. Pinning takes that out of the comparison and the noise with it.
import { spawnSync } from "node:child_process";

export const PIN = process.env.BENCH_PIN === "1";
/** Where the proxy runs, and where the load generator and the origin run, when pinned. */
export const PROXY_CPU = "1";
export const LOAD_CPU = "0";

/** Pins every thread of each process to `cpus` (taskset -a); threads made later inherit it. */
export function pin(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${r.stderr || r.error?.message}`);
  }
}

/** The command and arguments, run on `cpus` when pinning. */
export function onCpus(cmd: string, args: readonly string[], cpus: string): [string, string[]] {
  return PIN ? ["taskset", ["-c", cpus, cmd, ...args]] : [cmd, [...args]];
}
