/**
 * The timers of SIP transactions (RFC 3261 §17, Table 4) behind a small interface, so tests
 * drive them with a fake clock and no real waiting.
 */

export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

export interface SipClock {
  now(): number;
  set(fn: () => void, ms: number): TimerHandle;
  clear(handle: TimerHandle | undefined): void;
}

/** Node's timers, unref'd: a pending SIP timer never keeps the process alive on its own. */
export const realClock: SipClock = {
  now: () => Date.now(),
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    if (handle !== undefined) clearTimeout(handle as NodeJS.Timeout);
  },
};

/** RFC 3261 §17.1.1.1: T1, the RTT estimate; T2, the cap of non-INVITE and response retransmits. */
export const T1 = 500;
export const T2 = 4_000;
/** Timer B, F and H: 64·T1. */
export const TIMER_64T1 = 64 * T1;
/** Timer C (§16.6 step 11): more than 3 minutes after the last provisional response. */
export const TIMER_C = 181_000;
