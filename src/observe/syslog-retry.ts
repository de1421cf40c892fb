const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/**
 * One pending retry at a time, each delay twice the last up to BACKOFF_MAX_MS. Name
 * resolution and reconnecting share it, so a server that is down is tried at a capped rate
 * whichever step fails. The timer is unref'd: a retry never keeps the process alive.
 */
export class Retry {
  #timer: NodeJS.Timeout | undefined;
  #backoff = BACKOFF_MIN_MS;

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Runs `fn` after the current backoff, unless a retry is already pending. */
  schedule(fn: () => void): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, this.#backoff);
    this.#timer.unref();
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
  }

  /** Something worked: the next failure starts from the shortest delay again. */
  reset(): void {
    this.#backoff = BACKOFF_MIN_MS;
  }

  cancel(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
