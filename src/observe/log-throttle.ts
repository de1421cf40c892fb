/**
 * At most one log line per key per interval, for lines one per connection that a flood can
 * make by the thousand (connections over a cap, failed TLS handshakes). The next line that
 * passes says how many were left out; metrics still count every one.
 */
export class LogThrottle {
  readonly #everyMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { at: number; left: number }>();

  constructor(everyMs = 1_000, now: () => number = () => performance.now()) {
    this.#everyMs = everyMs;
    this.#now = now;
  }

  /** undefined: leave this line out; otherwise how many lines of this key were left out before it. */
  pass(key: string): number | undefined {
    const t = this.#now();
    const k = this.#keys.get(key);
    if (k && t - k.at < this.#everyMs) {
      k.left++;
      return undefined;
    }
    if (k) {
      const left = k.left;
      k.at = t;
      k.left = 0;
      return left;
    }
    this.#keys.set(key, { at: t, left: 0 });
    return 0;
  }
}
