/**
 * The calls in progress through one listener, by Call-ID: for counting (sessions), draining,
 * and the one log line at a call's end. Bounded (max_calls: a new INVITE beyond it is refused
 * by the proxy) and expiring (call_timeout: a call whose BYE never came through is forgotten).
 * Not what routes in-dialog requests: that is the Record-Route token, so after a restart the
 * table is rebuilt from the traffic that carries one.
 */

import { RecentIds } from "./recent-ids.ts";

export interface CallRecord {
  readonly callId: string;
  /** The transaction key of the INVITE that set it up (tx-key.ts): its retransmissions are absorbed. */
  readonly inviteKey: string | undefined;
  /** Where the proxy sent the call's BYE (host:port): only that peer's final answer ends the call. */
  byeTo?: string;
  /** A Route token already verified for this call and its server: its next requests skip the HMAC. */
  verifiedToken?: string;
  readonly client: string;
  readonly request: string;
  readonly from: string;
  readonly to: string;
  readonly route: string | undefined;
  pool: string | undefined;
  server: string | undefined;
  /** Epoch ms of the INVITE (or of the first in-dialog request seen, for a rebuilt call). */
  readonly startedAt: number;
  /** From the INVITE to its final response; undefined while ringing or for a rebuilt call. */
  setupMs: number | undefined;
  finalCode: number | undefined;
  /** Gives the server's session slot back; called once, at the end. */
  release: (() => void) | undefined;
  /** A server that failed the INVITE before one took it. */
  failures: readonly { readonly server: string; readonly error: string }[];
}

/** Ended Call-IDs remembered: about 10 MB at most, minutes of calls at any real rate. */
const ENDED_KEPT = 100_000;

/** Why a call left the table. */
export type CallEnd = "bye" | "rejected" | "timeout" | "closed";

export class CallTable {
  readonly #calls = new Map<string, CallRecord>();
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #onEnd: (c: CallRecord, why: CallEnd, now: number) => void;
  readonly #emptyWaiters: (() => void)[] = [];
  /**
   * Call-IDs of calls that ended, newest last, at most ENDED_KEPT: a request in a dialog that
   * ended here must not bring its call back (rebuildCall is for a restart's calls, not these),
   * or each finished call could be made to hold a session slot until call_timeout.
   */
  readonly #ended = new RecentIds(ENDED_KEPT);

  constructor(max: number, timeoutMs: number, onEnd: (c: CallRecord, why: CallEnd, now: number) => void) {
    this.#max = max;
    this.#timeoutMs = timeoutMs;
    this.#onEnd = onEnd;
  }

  get size(): number {
    return this.#calls.size;
  }

  get full(): boolean {
    return this.#calls.size >= this.#max;
  }

  get(callId: string): CallRecord | undefined {
    return this.#calls.get(callId);
  }

  /** Adds a call; false when the table is full or the Call-ID is already there. */
  add(c: CallRecord): boolean {
    if (this.full || this.#calls.has(c.callId)) return false;
    this.#calls.set(c.callId, c);
    return true;
  }

  end(callId: string, why: CallEnd, now: number): void {
    const c = this.#calls.get(callId);
    if (c === undefined) return;
    this.#calls.delete(callId);
    // The record's own copy: `callId` may be a slice of the datagram that ended the call (a
    // BYE's 200), which the set would keep alive whole for the next 100,000 calls.
    this.#ended.add(c.callId);
    c.release?.();
    c.release = undefined;
    this.#onEnd(c, why, now);
    if (this.#calls.size === 0) for (const w of this.#emptyWaiters.splice(0)) w();
  }

  /** Whether a call of this Call-ID ended here lately (one of the last ENDED_KEPT to end). */
  endedLately(callId: string): boolean {
    return this.#ended.has(callId);
  }

  /** The call's BYE went to `to`. */
  byeSent(callId: string, to: { host: string; port: number }): void {
    const c = this.#calls.get(callId);
    if (c !== undefined) c.byeTo = peerKey(to);
  }

  /**
   * A final answer to a BYE came from `from`: the call ends if its BYE went there. Anyone
   * can send a response with our Via on top; a forged 200 from the caller must not end a call
   * that goes on at the server (its max_sessions slot would be freed under it).
   */
  byeAnswered(callId: string, from: { host: string; port: number }, now: number): void {
    const c = this.#calls.get(callId);
    if (c?.byeTo !== undefined && c.byeTo === peerKey(from)) this.end(callId, "bye", now);
  }

  /** Ends the calls older than call_timeout. Calls are kept in start order: stops at the first young one. */
  sweep(now: number): number {
    let n = 0;
    for (const c of this.#calls.values()) {
      if (now - c.startedAt < this.#timeoutMs) break;
      this.end(c.callId, "timeout", now);
      n++;
    }
    return n;
  }

  /** Resolves when the table is empty. */
  whenEmpty(): Promise<void> {
    if (this.#calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }

  /** The newest calls first, at most `limit`. */
  newest(limit: number): CallRecord[] {
    return [...this.#calls.values()].slice(-limit).reverse();
  }

  closeAll(now: number): void {
    for (const id of [...this.#calls.keys()]) this.end(id, "closed", now);
  }
}

/** host:port with the host in lower case and without brackets, to compare peers. */
function peerKey(p: { host: string; port: number }): string {
  const h = p.host.toLowerCase();
  return `${h.startsWith("[") ? h.slice(1, -1) : h}|${p.port}`;
}
