import type { ServerEntry } from "./server.ts";

/**
 * One try of a server by a real session, with the pool settings that judge it: with active
 * checks it counts toward rise/fall, without them toward max_fails/fail_timeout.
 */
export interface OutcomeReport {
  readonly ok: boolean;
  readonly reason: string;
  readonly rise: number | undefined;
  readonly fall: number | undefined;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly now: number;
}

/** Passive health: what one try does to the server's state (the main thread's, with workers). */
export function applyOutcome(e: ServerEntry, r: OutcomeReport): void {
  if (!r.ok) e.failures++;
  if (r.rise !== undefined && r.fall !== undefined) e.recordCheck(r.ok, r.reason, r.rise, r.fall, r.now);
  else e.recordPassive(r.ok, r.reason, r.maxFails, r.failTimeoutMs, r.now);
}
