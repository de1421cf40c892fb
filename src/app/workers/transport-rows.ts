/**
 * The worker threads' transport counters for /metrics (SIP over UDP runs on every thread):
 * the rows each worker last reported, and what workers that died had counted, so that the
 * process's counters never go down when a worker is restarted from zero.
 */

import type { TransportRow } from "../../observe/metrics-transports.ts";

const keyOf = (r: TransportRow): string => `${r.listener}\n${r.transport}`;

export class WorkerTransports {
  /** By worker row: its transports as it last reported them. */
  readonly #latest = new Map<number, readonly TransportRow[]>();
  /** By listener and transport: the counts of workers that died (connections are not kept). */
  readonly #retired = new Map<string, TransportRow>();

  report(worker: number, rows: readonly TransportRow[]): void {
    this.#latest.set(worker, rows);
  }

  /** Worker `worker` is gone: what it counted stays in the totals. */
  retire(worker: number): void {
    for (const r of this.#latest.get(worker) ?? []) {
      const k = keyOf(r);
      const counts: Record<string, number> = { ...this.#retired.get(k)?.counts };
      for (const [event, n] of Object.entries(r.counts)) counts[event] = (counts[event] ?? 0) + n;
      this.#retired.set(k, { listener: r.listener, transport: r.transport, connections: undefined, counts });
    }
    this.#latest.delete(worker);
  }

  rows(): TransportRow[] {
    const out = [...this.#retired.values()];
    for (const rows of this.#latest.values()) out.push(...rows);
    return out;
  }
}
