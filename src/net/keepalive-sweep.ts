import type { LinkedSet } from "./linked-set.ts";
import type { StreamSession } from "./stream-session.ts";

/** A round at most every 15 s: keep-alive's first probe comes after 60 s of silence anyway. */
const MAX_PERIOD_MS = 15_000;
const MIN_PERIOD_MS = 50;

/** How often a sweep runs for a threshold: half of it, within [50 ms, 15 s]. */
export function sweepPeriodMs(afterMs: number): number {
  return Math.max(MIN_PERIOD_MS, Math.min(afterMs / 2, MAX_PERIOD_MS));
}

/**
 * Turns TCP keep-alive on for every session at least `afterMs` old at `now` (epoch ms). The
 * set is in accept order, so the walk stops at the first younger session: a round costs one
 * flag test per old session and one look at a young one.
 */
export function sweepKeepAlive(sessions: LinkedSet<StreamSession>, afterMs: number, now: number): void {
  const bornBy = now - afterMs;
  sessions.walk((s) => {
    if (s.startedAt > bornBy) return false;
    s.keepAlive();
    return true;
  });
}

/**
 * Keep-alive for the sessions of a plain TCP listener that live long enough to need it.
 * Most FastAGI sessions last well under a second: turning keep-alive on at accept and at
 * connect costs them eight setsockopt(2) calls for nothing. One timer per listener
 * (unreferenced: it never keeps the process up) turns it on for a session once it is
 * `afterMs` old, at most half that (or 15 s) late.
 */
export class KeepAliveSweep {
  readonly #sessions: LinkedSet<StreamSession>;
  readonly #afterMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(sessions: LinkedSet<StreamSession>, afterMs: number) {
    this.#sessions = sessions;
    this.#afterMs = afterMs;
  }

  /** Starts the rounds; a sweep already running goes on as it is. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(
      () => sweepKeepAlive(this.#sessions, this.#afterMs, Date.now()),
      sweepPeriodMs(this.#afterMs),
    );
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
