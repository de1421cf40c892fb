import type { Worker } from "node:worker_threads";
import type { ToWorker } from "./messages.ts";

/**
 * The requests to one worker thread waiting for their answer: an id each, and a bound in time
 * (a worker that never answers costs a timeout, not a wait for good).
 */
export class Requests {
  #nextId = 1;
  readonly #pending = new Map<number, (error: string | undefined) => void>();

  /** Posts the request `make(id)`; resolves on its answer, rejects on an error, a timeout or no thread. */
  send(w: Worker | undefined, make: (id: number) => ToWorker, timeoutMs: number): Promise<void> {
    if (!w) return Promise.reject(new Error("worker not running"));
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.#pending.delete(id);
            reject(new Error(`no answer within ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
      this.#pending.set(id, (error) => {
        if (timer) clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(new Error(error));
      });
      w.postMessage(make(id));
    });
  }

  /** The worker's answer to request `id` (an error message, or none). */
  answer(id: number, error: string | undefined): void {
    const done = this.#pending.get(id);
    this.#pending.delete(id);
    done?.(error);
  }

  /** The worker is gone: every request still waiting fails with `why`. */
  failAll(why: string): void {
    for (const done of this.#pending.values()) done(why);
    this.#pending.clear();
  }
}
