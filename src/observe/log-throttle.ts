/**
 * At most one log line per key per interval, for lines one per connection that a flood can
 * make by the thousand (connections over a cap, failed TLS handshakes). What it leaves out is
 * said at the end of the interval, by `flush(key, count)`; metrics still count every one.
 */
export class LogThrottle {
  readonly #everyMs: number;
  readonly #now: () => number;
  readonly #flush: (key: string, left: number) => void;
  readonly #keys = new Map<string, { at: number; left: number; timer: NodeJS.Timeout | undefined }>();

  constructor(
    flush: (key: string, left: number) => void,
    everyMs = 1_000,
    now: () => number = () => performance.now(),
  ) {
    this.#flush = flush;
    this.#everyMs = everyMs;
    this.#now = now;
  }

  /** Whether this line is written; one left out is counted toward the key's flush. */
  pass(key: string): boolean {
    const t = this.#now();
    const k = this.#keys.get(key);
    if (k === undefined) {
      this.#keys.set(key, { at: t, left: 0, timer: undefined });
      return true;
    }
    if (t - k.at >= this.#everyMs && k.timer === undefined) {
      k.at = t;
      return true;
    }
    k.left++;
    if (k.timer === undefined) {
      k.timer = setTimeout(() => this.#flushKey(key), Math.max(0, k.at + this.#everyMs - t));
      k.timer.unref();
    }
    return false;
  }

  #flushKey(key: string): void {
    const k = this.#keys.get(key);
    if (k === undefined) return;
    k.timer = undefined;
    const left = k.left;
    k.left = 0;
    k.at = this.#now();
    if (left > 0) this.#flush(key, left);
  }

  /** Says what is still left out, now, and stops the timers. */
  close(): void {
    for (const [key, k] of this.#keys) {
      if (k.timer === undefined) continue;
      clearTimeout(k.timer);
      k.timer = undefined;
      if (k.left > 0) this.#flush(key, k.left);
      k.left = 0;
    }
  }
}
