/**
 * What an INVITE transaction (invite-tx.ts) needs from the proxy around it: clock, sending,
 * the pool (acquire, release, report), our Via and Record-Route, and where its outcome goes.
 * Types only, so the transaction depends on this narrow interface and not on the proxy.
 */

import type { Seal } from "./branch.ts";
import type { SipClock } from "./clock.ts";
import type { BranchEnv } from "./invite-branch.ts";
import type { InviteTransaction } from "./invite-tx.ts";
import type { SendFailed, SipPeer } from "./transport.ts";

export interface InviteServer {
  readonly key: string;
}

/** A server that failed the INVITE, for the call's log line and passive health. */
export interface FailedBranch {
  readonly server: string;
  readonly error: string;
}

export interface InviteEnv<S extends InviteServer> {
  readonly clock: SipClock;
  /** False: not sent (counted); `failed`: accepted, then lost with its connection. */
  readonly sendBytes: (to: SipPeer, bytes: Buffer, failed?: SendFailed) => boolean;
  /** Toward the caller: Timer G for a non-2xx final (an unreliable transport only). */
  readonly retransmit: boolean;
  /** Toward servers: Timer A/E (an unreliable transport only). */
  readonly retransmitBranches: boolean;
  readonly failoverCodes: readonly number[];
  readonly inviteTimeoutMs: number;
  /** Timer C for every branch (the pool's ring_timeout). */
  readonly ringTimeoutMs: number;
  /** Our Via for a branch id. */
  via(branch: string): string;
  /** Seals our branches for the caller's address (via-seal.ts), so late responses can be relayed. */
  readonly seal?: Seal | undefined;
  /** Record-Route values to add, in order (record-route.ts). */
  recordRoute(server: S): readonly string[];
  target(server: S): SipPeer;
  /** The next server not in `tried`, its session counted; undefined when none can take it. */
  acquire(tried: ReadonlySet<S>): S | undefined;
  release(server: S): void;
  report(server: S, ok: boolean, reason: string): void;
  /** Indexes (or, with undefined, forgets) a branch id so responses find their transaction. */
  bind(branch: string, tx: InviteTransaction<S> | undefined): void;
  /** The final answer the caller got; `server` holds the call's session slot when `held`. */
  answered(code: number, server: S | undefined, held: boolean, failures: readonly FailedBranch[]): void;
  /** The transaction is over (its retransmission window closed): forget it. */
  done(): void;
}

/** What each branch of a transaction needs of its env. */
export function branchEnv<S extends InviteServer>(env: InviteEnv<S>): BranchEnv {
  return {
    clock: env.clock,
    send: env.sendBytes,
    retransmit: env.retransmitBranches,
    ringTimeoutMs: env.ringTimeoutMs,
  };
}
