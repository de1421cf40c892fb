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
/** Timer I (§17.2.1): after the ACK of a non-2xx final, how long its retransmissions are absorbed (UDP). */
export const T4 = 5_000;
/**
 * How long an INVITE transaction stays after its 2xx. RFC 6026's Accepted state (Timer L,
 * 64·T1) absorbs the caller's INVITE retransmissions and passes the server's 2xx
 * retransmissions; here the calls table absorbs the former for the whole call (its INVITE's
 * key is kept) and the latter are routed statelessly by Via, so the transaction itself (the
 * request, its branches, their timers) need not live 32 s per call: at 3,000 calls/s that was
 * ~96,000 of them, ~300 MB, and GC pauses long enough to overflow the socket's buffer.
 */
export const ACCEPTED_LINGER_MS = T1;

/**
 * invite_timeout under the proxy's own overload: a no-answer timer that fires later than this
 * past its due time measures our busy event loop (the server's reply may be waiting unread in
 * our socket buffer), so it waits that much longer before it blames the server
 * (invite-branch.ts): at most LAG_EXTENSIONS times, and at most invite_timeout of extra
 * waiting in all.
 */
export const LAG_SLACK_MS = 50;
export const LAG_EXTENSIONS = 3;

/**
 * However often a server re-sends its provisional reply (each restarts Timer C), a call rings
 * at most this long after the first one: Kamailio caps an INVITE so too (max_inv_lifetime).
 */
export const MAX_RING_MS = 600_000;

/** Timer C (§16.6 step 11): more than 3 minutes after the last provisional response. */
export const TIMER_C = 181_000;
