// A SIP clock for the warm-up (app/sip-warm-up.ts), the core benchmark and the tests: time moves
// only when told, and the timers due run in order, so transactions linger and end as they would at a given call rate (the real clock
// never fires inside one synchronous loop, and the state piled up: 22,000 transactions and
// 358 MB of heap after 20,000 calls, a GC load no live proxy has).
import type { SipClock, TimerHandle } from "./clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: (() => void) | undefined;
}

export class SimClock implements SipClock {
  #t = 0;
  #seq = 0;
  /** A binary min-heap by (at, seq); cleared timers stay in it with no fn. */
  readonly #heap: Timer[] = [];

  get pending(): number {
    return this.#heap.length;
  }

  now(): number {
    return this.#t;
  }

  set(fn: () => void, ms: number): TimerHandle {
    const t: Timer = { at: this.#t + Math.max(0, ms), seq: this.#seq++, fn };
    this.#push(t);
    return t as unknown as TimerHandle;
  }

  clear(handle: TimerHandle | undefined): void {
    if (handle !== undefined) (handle as unknown as Timer).fn = undefined;
  }

  /** Time moves on by `ms`; every timer due by then runs, in order (bounded by `max` runs). */
  advance(ms: number, max = 1_000_000): void {
    const end = this.#t + ms;
    for (let n = 0; n < max; n++) {
      const top = this.#heap[0];
      if (top === undefined || top.at > end) break;
      this.#pop();
      if (top.fn === undefined) continue;
      this.#t = top.at;
      const fn = top.fn;
      top.fn = undefined;
      fn();
    }
    this.#t = end;
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Timer;
      if (!this.#less(t, parent)) break;
      h[i] = parent;
      h[p] = t;
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Timer;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l] as Timer, h[m] as Timer)) m = l;
      if (r < h.length && this.#less(h[r] as Timer, h[m] as Timer)) m = r;
      if (m === i) break;
      const x = h[m] as Timer;
      h[m] = h[i] as Timer;
      h[i] = x;
      i = m;
    }
  }
}
