export type ScriptOutcome = { ok: true; value: unknown } | { ok: false; error: string };

export type SettleCall = (o: ScriptOutcome) => void;

export interface QueuedCall {
  readonly request: unknown;
  readonly resolve: SettleCall;
  /** Moved from a worker that was replaced after another call's timeout (once at most). */
  readonly moved?: boolean;
}

/**
 * Calls made while the worker starts. Bounded, so a worker that is slow to start makes
 * excess callers fail at once instead of piling up without limit.
 */
export class CallQueue {
  readonly max: number;
  #calls: QueuedCall[] = [];

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.#calls.length;
  }

  get full(): boolean {
    return this.#calls.length >= this.max;
  }

  push(call: QueuedCall): void {
    this.#calls.push(call);
  }

  /** Empties the queue and returns what waited in it, oldest first. */
  takeAll(): QueuedCall[] {
    const calls = this.#calls;
    this.#calls = [];
    return calls;
  }

  failAll(reason: string): void {
    for (const q of this.takeAll()) q.resolve({ ok: false, error: reason });
  }
}

interface Pending {
  readonly resolve: SettleCall;
  readonly timer: NodeJS.Timeout;
  readonly request: unknown;
  /** Already moved once to a new worker after another call's timeout. */
  readonly moved: boolean;
}

/** Calls handed to a worker and not yet answered, by id, each with the timer bounding it. */
export class PendingCalls {
  readonly #calls = new Map<number, Pending>();

  get size(): number {
    return this.#calls.size;
  }

  add(id: number, resolve: SettleCall, timer: NodeJS.Timeout, request: unknown, moved: boolean): void {
    this.#calls.set(id, { resolve, timer, request, moved });
  }

  /**
   * Empties the set (timers stopped): the calls that were not moved yet are returned, to go to
   * the next worker once; the others fail with `reason`.
   */
  takeMovable(reason: string): QueuedCall[] {
    const out: QueuedCall[] = [];
    for (const [id, p] of this.#calls) {
      clearTimeout(p.timer);
      this.#calls.delete(id);
      if (p.moved) p.resolve({ ok: false, error: reason });
      else out.push({ request: p.request, resolve: p.resolve, moved: true });
    }
    return out;
  }

  /** Forgets call `id` without settling it; false when it was no longer pending. */
  delete(id: number): boolean {
    return this.#calls.delete(id);
  }

  /** Settles call `id` and stops its timer; false when it was no longer pending (a late answer). */
  settle(id: number, outcome: ScriptOutcome): boolean {
    const p = this.#calls.get(id);
    if (!p) return false;
    this.#calls.delete(id);
    clearTimeout(p.timer);
    p.resolve(outcome);
    return true;
  }

  failAll(reason: string): void {
    for (const [id, p] of this.#calls) {
      clearTimeout(p.timer);
      this.#calls.delete(id);
      p.resolve({ ok: false, error: reason });
    }
  }
}
