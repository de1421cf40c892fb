/**
 * Reconnect delays for the event socket, as the drachtio FreeSWITCH balancer did them:
 * 150 ms, then × 1.7 per failure, capped at 60 s (reference sip.md, "What the drachtio seed
 * really did"). No jitter: one balancer talks to each FreeSWITCH, so there is no herd.
 */

export interface BackoffOptions {
  readonly baseMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

export const ESL_BACKOFF: BackoffOptions = { baseMs: 150, factor: 1.7, maxMs: 60_000 };

/** Delay before retry number `failures` (0 for the first retry after a failure), in whole ms. */
export function backoffDelay(failures: number, o: BackoffOptions = ESL_BACKOFF): number {
  // Past the cap the power only grows; stop computing it before it overflows to Infinity.
  let d = o.baseMs;
  for (let i = 0; i < failures && d < o.maxMs; i++) d *= o.factor;
  return Math.round(Math.min(d, o.maxMs));
}
