/**
 * Load shedding for new work when this thread's event loop is saturated: the proxy's own
 * "overload is not death". A saturated loop reads the socket later and later; on UDP the
 * kernel's buffer then overflows, and every call suffers at once: the caller and the servers
 * retransmit, which adds load, and calls in progress lose their ACKs and BYEs. Refusing a
 * share of the new calls at once (SIP: 503 with Retry-After, so a carrier tries its next
 * proxy) keeps the calls in progress whole.
 *
 * The measure is the event loop's utilization (ELU, perf_hooks: the share of wall time the
 * thread spent outside its wait for I/O), sampled every SAMPLE_MS. Not the loop's delay: work
 * that arrives as many small datagrams keeps timers on time while the loop never rests.
 *
 * A saturated loop alone is no overload: the kernel's buffer absorbs a backlog, and a proxy
 * that has just started (its code not yet compiled) or a burst runs saturated for a second or
 * two and catches up (measured on the SIP bench: 0.8 s at 1,500 calls/s from a cold start,
 * 2 s in a step at 2,500 calls/s, neither with a single retransmission). What tells the
 * backlog has grown too deep is a sign of it: datagrams the kernel dropped at the socket
 * (`backlog`, read only while the loop is saturated: udp-queue.ts), or, from the protocol
 * (sign()), a SIP caller retransmitting an INVITE that we hold because our answer came later
 * than its T1 (500 ms). A buffer of a few MiB holds well under 500 ms of a busy listener's
 * datagrams, so on UDP the drops come first. Either means calls are already being hurt (a
 * lost datagram is a retransmission): shedding does not start on a backlog the buffer holds.
 *
 * The control (nextShed, pure): shedding starts once `after` samples in a row are at or above
 * the utilization asked and a sign came during them; then each hot sample sheds STEP_UP more
 * of the new work while signs keep coming (one within the last `after` samples), holds the
 * share when they stop (the load that keeps the loop busy may not be new work at all: a
 * flood of other requests is not relieved by refusing more calls), and each cool sample
 * sheds STEP_DOWN less. A burst shorter than `after`, or one the loop rides out unseen, sheds
 * nothing.
 */

import { type EventLoopUtilization, performance } from "node:perf_hooks";

/** How often the loop's utilization is sampled. */
export const SAMPLE_MS = 100;
/** The share of new work refused more per hot sample, and less per cool one. */
export const STEP_UP = 0.1;
export const STEP_DOWN = 0.05;

export interface ShedOptions {
  /** A sample's utilization (0–1) at or above which the loop counts as saturated. */
  readonly utilization: number;
  /** Hot samples in a row before shedding starts. */
  readonly after: number;
}

export interface ShedState {
  /** Hot samples in a row. */
  readonly hot: number;
  /** Signs of a backlog during those samples. */
  readonly signs: number;
  /** Samples since the last one that came with a sign. */
  readonly quiet: number;
  /** The share of new work refused (0–1). */
  readonly share: number;
}

export const CALM: ShedState = { hot: 0, signs: 0, quiet: Number.POSITIVE_INFINITY, share: 0 };

/** The state after one sample of utilization `u`, with `signs` signs of a backlog since the last. */
export function nextShed(s: ShedState, u: number, signs: number, o: ShedOptions): ShedState {
  const quiet = signs > 0 ? 0 : s.quiet + 1;
  if (u >= o.utilization) {
    const hot = s.hot + 1;
    const seen = s.signs + signs;
    const up = s.share > 0 ? quiet < o.after : hot >= o.after && seen > 0;
    return { hot, signs: seen, quiet, share: up ? Math.min(1, round(s.share + STEP_UP)) : s.share };
  }
  return { hot: 0, signs: 0, quiet, share: Math.max(0, round(s.share - STEP_DOWN)) };
}

/** Shares in hundredths: sums of 0.1 and 0.05 steps stay exact, and 0 is reached. */
function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** What a shedder says when shedding starts and when it ends. */
export type ShedChange = (shedding: boolean, utilization: number) => void;

/**
 * A shedder: samples the loop every SAMPLE_MS (unref'd) and answers admit() for each new piece
 * of work. `sample` and `random` are injectable for tests; `sample(u)` also takes a reading by
 * hand. Started by the constructor; close() stops it.
 */
export class LoadShed {
  readonly #o: ShedOptions;
  readonly #random: () => number;
  readonly #onChange: ShedChange | undefined;
  /**
   * Whether the backlog shows a sign now; asked only while the loop is saturated. `first`: the
   * first hot sample of a run (what came before it is no sign of this run).
   */
  readonly #backlog: ((first: boolean) => boolean) | undefined;
  #state = CALM;
  #last: EventLoopUtilization = performance.eventLoopUtilization();
  #utilization = 0;
  #signs = 0;
  #refused = 0;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(
    o: ShedOptions,
    opts: {
      random?: () => number;
      onChange?: ShedChange;
      auto?: boolean;
      backlog?: (first: boolean) => boolean;
    } = {},
  ) {
    this.#o = o;
    this.#random = opts.random ?? Math.random;
    this.#onChange = opts.onChange;
    this.#backlog = opts.backlog;
    if (opts.auto !== false) {
      this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
      this.#timer.unref();
    }
  }

  /** Takes a reading: `u`, or the loop's utilization since the last reading. */
  sample(u?: number): void {
    let util = u;
    if (util === undefined) {
      const now = performance.eventLoopUtilization();
      util = performance.eventLoopUtilization(now, this.#last).utilization;
      this.#last = now;
    }
    this.#utilization = util;
    if (util >= this.#o.utilization && this.#backlog?.(this.#state.hot === 0) === true) this.#signs++;
    const was = this.#state.share > 0;
    this.#state = nextShed(this.#state, util, this.#signs, this.#o);
    this.#signs = 0;
    const is = this.#state.share > 0;
    if (was !== is) this.#onChange?.(is, util);
  }

  /** A sign that the backlog has grown too deep (SIP: an INVITE retransmitted to us). */
  sign(): void {
    this.#signs++;
  }

  /** Whether to take a new piece of work; false: refuse it (and it is counted). */
  admit(): boolean {
    const share = this.#state.share;
    if (share === 0 || this.#random() >= share) return true;
    this.#refused++;
    return false;
  }

  /** The share of new work refused now (0–1), the last reading, and the work refused so far. */
  status(): { readonly share: number; readonly utilization: number; readonly refused: number } {
    return { share: this.#state.share, utilization: this.#utilization, refused: this.#refused };
  }

  /** Stops sampling; a shedder that was shedding says its end (counts of shedding threads fall). */
  close(): void {
    clearInterval(this.#timer);
    if (this.#state.share === 0) return;
    this.#state = CALM;
    this.#onChange?.(false, this.#utilization);
  }
}
