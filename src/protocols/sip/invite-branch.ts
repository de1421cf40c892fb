/**
 * One client INVITE transaction of the proxy (RFC 3261 §17.1.1), toward one server: the
 * INVITE retransmitted over UDP (Timer A from T1, doubling) until any response, given up
 * after Timer B; the balancer's invite_timeout for a first provisional reply; Timer C
 * (§16.6 step 11) once it rings; the CANCEL (§9.1) sent only after a provisional reply and
 * retransmitted (Timer E/F) until answered; the ACK of a non-2xx final.
 */

import {
  LAG_EXTENSIONS,
  LAG_SLACK_MS,
  MAX_RING_MS,
  type SipClock,
  T1,
  T2,
  TIMER_64T1,
  type TimerHandle,
} from "./clock.ts";
import { ackFor, cancelFor } from "./hop.ts";
import { serializeMessage } from "./serialize.ts";
import type { SendFailed, SipPeer } from "./transport.ts";
import { MAX_UDP_PAYLOAD, type SipError, type SipRequest, type SipResponse } from "./types.ts";

const EMPTY = Buffer.alloc(0);

export type BranchState = "calling" | "proceeding" | "done" | "abandoned";

export interface BranchEnv {
  readonly clock: SipClock;
  /** False: not sent; `failed`: accepted, then lost with the connection it waited for. */
  readonly send: (to: SipPeer, bytes: Buffer, failed?: SendFailed) => boolean;
  /** False on stream transports: no retransmissions there (§17.1.1.2). */
  readonly retransmit: boolean;
  /** Timer C: the pool's ring_timeout (TIMER_C by default). */
  readonly ringTimeoutMs: number;
}

export interface BranchEvents {
  /** No provisional reply within invite_timeout (nor any reply before Timer B). */
  noAnswer(): void;
  /**
   * The INVITE never left (§8.1.3.1, a transport error: handled as a 503): its connection
   * was refused, timed out or failed TLS, or (`local_resource`, `not_sent`) this process
   * could not send it, which says nothing of the server.
   */
  transportFailed(error: SipError): void;
  /** Timer C fired: the branch has been CANCELled, and the final that comes will be replaced by 408. */
  timerC(): void;
  /** A CANCEL sent got no final response to the INVITE within 64·T1: the server is gone. */
  cancelUnanswered(): void;
  /** 64·T1 after the start with no provisional reply (Timer B): late responses no longer match it. */
  expired(): void;
}

export class InviteBranch<S> {
  readonly id: string;
  readonly server: S;
  readonly target: SipPeer;
  /** The INVITE sent (for its CANCEL and a non-2xx's ACK); let go once a 2xx ends the branch. */
  #invite: SipRequest | undefined;
  state: BranchState = "calling";
  /** Whether a CANCEL has been sent (Timer C or the caller's CANCEL). */
  cancelSent = false;
  timerCFired = false;
  #pendingCancel = false;
  /** A provisional reply came, in any state: from then on a CANCEL may be sent (§9.1). */
  #rang = false;
  readonly #env: BranchEnv;
  readonly #events: BranchEvents;
  #bytes: Buffer;
  #timerA: TimerHandle | undefined;
  #timerB: TimerHandle | undefined;
  #noAnswer: TimerHandle | undefined;
  #timerC: TimerHandle | undefined;
  /** When the first provisional reply came (MAX_RING_MS counts from it). */
  #ringSince = 0;
  #cancelTimer: TimerHandle | undefined;
  #cancelGiveUp: TimerHandle | undefined;

  constructor(
    env: BranchEnv,
    id: string,
    server: S,
    target: SipPeer,
    invite: SipRequest,
    events: BranchEvents,
  ) {
    this.#env = env;
    this.id = id;
    this.server = server;
    this.target = target;
    this.#invite = invite;
    this.#events = events;
    this.#bytes = serializeMessage(invite);
  }

  /** Timers first: a send that fails at once abandons the branch, and that clears them. */
  start(inviteTimeoutMs: number): void {
    const { clock } = this.#env;
    if (this.#env.retransmit) this.#armA(T1);
    const wait = Math.min(inviteTimeoutMs, TIMER_64T1);
    this.#armNoAnswer(clock.now() + wait, wait, LAG_EXTENSIONS);
    this.#timerB = clock.set(() => {
      this.#timerB = undefined;
      this.#events.expired();
    }, TIMER_64T1);
    const failed = (e: SipError) => {
      if (this.state === "calling") this.#events.transportFailed(e);
    };
    if (this.target.transport === "udp" && this.#bytes.length > MAX_UDP_PAYLOAD)
      failed({ code: "too_large", message: `${this.#bytes.length} bytes: more than a datagram holds` });
    else if (!this.#env.send(this.target, this.#bytes, failed))
      failed({
        code: "not_sent",
        message: `could not send to ${this.target.transport}:${this.target.host}:${this.target.port}`,
      });
  }

  /**
   * invite_timeout, counted in time the proxy could listen. A timer that fires `late` ms past
   * `due` means our event loop was busy that long (overload, a GC pause): the server's 1xx
   * may be sitting unread in our socket buffer, so it gets `late` ms more, within `budget`
   * (invite_timeout again) and `tries`. On a loop that keeps up this is the plain timeout.
   */
  #armNoAnswer(due: number, budget: number, tries: number): void {
    const clock = this.#env.clock;
    this.#noAnswer = clock.set(
      () => {
        this.#noAnswer = undefined;
        if (this.state !== "calling") return;
        const late = clock.now() - due;
        if (late > LAG_SLACK_MS && tries > 0 && budget > 0) {
          const more = Math.min(late, budget);
          this.#armNoAnswer(clock.now() + more, budget - more, tries - 1);
          return;
        }
        this.#events.noAnswer();
      },
      Math.max(0, due - clock.now()),
    );
  }

  #armA(interval: number): void {
    this.#timerA = this.#env.clock.set(() => {
      if (this.state !== "calling") return;
      this.#env.send(this.target, this.#bytes);
      this.#armA(interval * 2);
    }, interval);
  }

  /**
   * A 1xx: retransmissions stop and a CANCEL waiting for it goes. Timer B is over (§17.1.1.2:
   * it bounds the Calling state only): a call may ring for minutes, and its final answer must
   * still find the branch. Timer C (ring_timeout) starts at the first 1xx and again at each
   * one but 100 (§16.7 step 2), within MAX_RING_MS of the first in all: a server that re-sends
   * its 180 every minute (§13.3.1.1) cannot keep a call ringing for ever.
   */
  provisional(status: number): void {
    if (this.state !== "done") this.#rang = true;
    if (this.state !== "calling" && this.state !== "proceeding") return;
    const { clock } = this.#env;
    if (this.state === "calling") this.#ringSince = clock.now();
    else if (status === 100) return;
    this.state = "proceeding";
    clock.clear(this.#timerB);
    clock.clear(this.#timerA);
    clock.clear(this.#noAnswer);
    clock.clear(this.#timerC);
    const left = this.#ringSince + MAX_RING_MS - clock.now();
    this.#timerC = clock.set(
      () => {
        this.#timerC = undefined;
        if (this.state !== "proceeding") return;
        this.timerCFired = true;
        this.cancel();
        this.#events.timerC();
      },
      Math.max(0, Math.min(this.#env.ringTimeoutMs, left)),
    );
    if (this.#pendingCancel) this.cancel();
  }

  /** A final response: the branch is over; a non-2xx one is ACKed here, hop by hop. */
  final(res: SipResponse): void {
    this.#stopInvite();
    // Timer B is over too: the transaction keeps the branch bound while it lives (Timer H).
    this.#env.clock.clear(this.#timerB);
    this.state = "done";
    this.#env.clock.clear(this.#cancelGiveUp);
    const invite = this.#invite;
    if (res.status < 300) {
      // Done for good: nothing is resent, cancelled or ACKed here from now on.
      this.#invite = undefined;
      this.#bytes = EMPTY;
    } else if (invite !== undefined) this.#env.send(this.target, serializeMessage(ackFor(invite, res)));
  }

  /** No longer the branch we wait on (invite_timeout): quiet, but late responses still match it. */
  abandon(): void {
    if (this.state === "done") return;
    this.#stopInvite();
    this.state = "abandoned";
  }

  /**
   * Sends a CANCEL if the server has sent a provisional reply; else remembers to send it when
   * one comes (§9.1: never CANCEL a branch that has sent none).
   */
  cancel(): void {
    if (this.cancelSent || this.state === "done") return;
    // An abandoned branch that rings late is cancelled too: it must not ring on, or answer.
    if (!this.#rang) {
      this.#pendingCancel = true;
      return;
    }
    const invite = this.#invite;
    if (invite === undefined) return;
    this.cancelSent = true;
    const bytes = serializeMessage(cancelFor(invite));
    const resend = (interval: number) => {
      this.#cancelTimer = this.#env.clock.set(() => {
        this.#env.send(this.target, bytes);
        resend(Math.min(interval * 2, T2));
      }, interval);
    };
    this.#env.send(this.target, bytes);
    if (this.#env.retransmit) resend(T1);
    this.#cancelGiveUp = this.#env.clock.set(() => {
      this.#cancelGiveUp = undefined;
      this.#env.clock.clear(this.#cancelTimer);
      if (this.state !== "done") this.#events.cancelUnanswered();
    }, TIMER_64T1);
  }

  /** A response to our CANCEL: stop retransmitting it (the 487 to the INVITE comes apart). */
  cancelAnswered(): void {
    this.#env.clock.clear(this.#cancelTimer);
  }

  #stopInvite(): void {
    const { clock } = this.#env;
    clock.clear(this.#timerA);
    clock.clear(this.#noAnswer);
    clock.clear(this.#timerC);
  }

  /** Every timer off: the transaction is forgotten. */
  stop(): void {
    this.#stopInvite();
    const { clock } = this.#env;
    clock.clear(this.#timerB);
    clock.clear(this.#cancelTimer);
    clock.clear(this.#cancelGiveUp);
    if (this.state !== "done") this.state = "abandoned";
  }
}
