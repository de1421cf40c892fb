import type { HttpRoute } from "./config.ts";

/** At most one http.wake per route in this window (the shared contract of issue #14). */
export const WAKE_EVERY_MS = 5_000;
/** Routes remembered at most (entries past the window carry no information). */
const MAX_ROUTES = 1024;

/** Which passivated routes may ask to be woken now: one ask per route per WAKE_EVERY_MS. */
export class WakeLimit {
  readonly #woken = new Map<string, number>();

  /** True when `route` has not asked within the window (and counts this ask). */
  take(route: HttpRoute, now = Date.now()): boolean {
    const key = `${route.index}\0${route.name}`;
    const last = this.#woken.get(key);
    if (last !== undefined && now - last < WAKE_EVERY_MS) return false;
    if (this.#woken.size >= MAX_ROUTES)
      for (const [k, t] of this.#woken) if (now - t >= WAKE_EVERY_MS) this.#woken.delete(k);
    this.#woken.set(key, now);
    return true;
  }
}
