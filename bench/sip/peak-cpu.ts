// The busiest process of a target at its busiest: the highest CPU any one of its processes
// used over any 1 s of a step, in cores. A step's own average (CPU over the whole step) hides
// a saturated process when the step fails: the caller then waits out its timers for up to
// 20 s more, with the proxy idle, and the average falls to a fifth. Near 1.0 here, that
// process (Trunkline's one thread, Kamailio's one UDP receiver) was the limit.

import { cpuMs } from "../lib/procfs.ts";

const WINDOW_MS = 1_000;

export class PeakCpu {
  readonly #pids: readonly number[];
  readonly #read: (pid: number) => number;
  readonly #samples: { at: number; ms: number[] }[] = [];
  #peak = 0;

  /** `read`: a process's CPU time in ms (its user + system; /proc by default). */
  constructor(pids: readonly number[], read: (pid: number) => number = cpuMs) {
    this.#pids = pids;
    this.#read = read;
  }

  /** The highest share of a core seen so far (0 before a window is whole). */
  get peak(): number {
    return this.#peak;
  }

  /** Reads each process's CPU now (`at`: Date.now()); a process gone reads NaN and is skipped. */
  sample(at: number): void {
    const ms = this.#pids.map((p) => {
      try {
        return this.#read(p);
      } catch {
        return Number.NaN;
      }
    });
    const s = this.#samples;
    s.push({ at, ms });
    // Keep the newest sample at least WINDOW_MS old as the window's start.
    while (s.length > 2 && at - (s[1] as { at: number }).at >= WINDOW_MS) s.shift();
    const first = s[0] as { at: number; ms: number[] };
    const span = at - first.at;
    if (span < WINDOW_MS) return;
    for (let i = 0; i < ms.length; i++) {
      const share = ((ms[i] as number) - (first.ms[i] as number)) / span;
      if (share > this.#peak) this.#peak = share;
    }
  }
}
