import { Counter, Gauge, type Registry } from "prom-client";

/** One thread that runs listeners, as the worker set reports it (0 is the main thread). */
export interface WorkerMetrics {
  readonly worker: number;
  readonly sessions: number;
  readonly started: number;
  readonly restarts: number;
}

/**
 * Per listener thread (`workers:` above 1): sessions held now, started since start, and
 * restarts after a crash. Read from the shared counters at scrape time; absent with one thread.
 */
export function registerWorkerMetrics(registry: Registry, read: () => readonly WorkerMetrics[]): void {
  const registers = [registry];
  new Gauge({
    name: "trunkline_worker_sessions",
    help: "Sessions a listener thread holds now (worker 0 is the main thread).",
    labelNames: ["worker"] as const,
    registers,
    collect() {
      this.reset();
      for (const w of read()) this.set({ worker: String(w.worker) }, w.sessions);
    },
  });
  new Counter({
    name: "trunkline_worker_sessions_started_total",
    help: "Sessions each listener thread has started (a restarted worker keeps counting).",
    labelNames: ["worker"] as const,
    registers,
    collect() {
      this.reset();
      for (const w of read()) this.inc({ worker: String(w.worker) }, w.started);
    },
  });
  new Counter({
    name: "trunkline_worker_restarts_total",
    help: "Times a worker thread died and was restarted (its sessions were lost).",
    labelNames: ["worker"] as const,
    registers,
    collect() {
      this.reset();
      for (const w of read()) this.inc({ worker: String(w.worker) }, w.restarts);
    },
  });
}
