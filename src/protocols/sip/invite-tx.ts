/**
 * An initial INVITE through the proxy, transaction-stateful (RFC 3261 §16, §17.2.1): the server
 * transaction toward the caller (100 Trying at once, INVITE retransmissions answered with the
 * last response, a non-2xx final resent by Timer G until the ACK, which is absorbed) and, one
 * after another, branches to the pool's servers (invite-branch.ts): failover on an answer in
 * failover_codes, on no provisional within invite_timeout, or on the server found gone (each
 * server once). The caller sees one final answer; every 2xx is forwarded, even a late one.
 */

import { newBranch } from "./branch.ts";
import { ACCEPTED_LINGER_MS, T1, T2, T4, TIMER_64T1, type TimerHandle } from "./clock.ts";
import { forwardEdits } from "./edit.ts";
import { callerViasOf, upstreamStatus, withCallerVias } from "./hop.ts";
import { type BranchEnv, InviteBranch } from "./invite-branch.ts";
import { branchEnv, type FailedBranch, type InviteEnv, type InviteServer } from "./invite-env.ts";
import { buildResponse } from "./response.ts";
import { serializeMessage } from "./serialize.ts";
import type { SipPeer } from "./transport.ts";
import type { SipError, SipRequest, SipResponse } from "./types.ts";

export type { FailedBranch, InviteEnv, InviteServer };

export class InviteTransaction<S extends InviteServer> {
  readonly #env: InviteEnv<S>;
  /** The caller's INVITE, top Via stamped (RFC 3581), that our responses copy; its Vias after a 2xx. */
  #request: SipRequest;
  /** The INVITE to forward, before a branch's Via and Record-Route; gone once a 2xx is accepted. */
  #base: SipRequest | undefined;
  readonly #upstream: SipPeer;
  readonly #toTag: string;
  readonly #loopKey: string | undefined;
  readonly #tried = new Set<S>();
  readonly #failures: FailedBranch[] = [];
  readonly #branches: InviteBranch<S>[] = [];
  #current: InviteBranch<S> | undefined;
  #last: Buffer;
  #final: number | undefined;
  #cancelled = false;
  #timerG: TimerHandle | undefined;
  #linger: TimerHandle | undefined;
  #over = false;
  readonly #branchEnv: BranchEnv;

  constructor(
    env: InviteEnv<S>,
    request: SipRequest,
    base: SipRequest,
    upstream: SipPeer,
    toTag: string,
    loopKey?: string,
  ) {
    this.#env = env;
    this.#branchEnv = branchEnv(env);
    this.#request = request;
    this.#base = base;
    this.#upstream = upstream;
    this.#toTag = toTag;
    this.#loopKey = loopKey;
    this.#last = this.#own(100) ?? Buffer.alloc(0);
  }

  get finalStatus(): number | undefined {
    return this.#final;
  }

  /** §16.2: 100 Trying at once, then the first server. */
  start(): void {
    this.#env.sendBytes(this.#upstream, this.#last);
    this.#next();
  }

  /** A retransmitted INVITE: the last response again (§17.2.1). */
  retransmission(): void {
    this.#env.sendBytes(this.#upstream, this.#last);
  }

  /** The caller's ACK of a non-2xx final: absorbed (§16.7), resends stop, Timer I ends it (§17.2.1). */
  ack(): void {
    this.#env.clock.clear(this.#timerG);
    this.#finish(this.#env.retransmit ? T4 : 0);
  }

  /** The caller's CANCEL (already answered 200 by the proxy): CANCEL the pending branch. */
  cancel(): void {
    if (this.#final !== undefined || this.#cancelled) return;
    this.#cancelled = true;
    if (this.#current === undefined) this.#ownFinal(487);
    else this.#current.cancel();
  }

  #own(status: number, headers?: readonly (readonly [string, string])[]): Buffer | undefined {
    const r = buildResponse(this.#request, status, { toTag: this.#toTag, ...(headers ? { headers } : {}) });
    return r.ok ? serializeMessage(r.response) : undefined;
  }

  #ownFinal(status: number, headers?: readonly (readonly [string, string])[], server?: S): void {
    if (this.#final !== undefined) return;
    this.#sendFinal(status, this.#own(status, headers) ?? Buffer.alloc(0), server);
  }

  #next(): void {
    // Accepted (a 2xx came): no server is tried again, nor a slot taken for one.
    const base = this.#base;
    if (base === undefined) return;
    if (this.#cancelled) {
      this.#ownFinal(487);
      return;
    }
    const server = this.#env.acquire(this.#tried);
    if (server === undefined) {
      this.#current = undefined;
      this.#ownFinal(503, [["Retry-After", "5"]]);
      return;
    }
    this.#tried.add(server);
    const id = newBranch(this.#loopKey, this.#env.seal);
    const v = forwardEdits(base, this.#env.via(id), this.#env.recordRoute(server), false);
    if (!v.ok) {
      this.#env.release(server);
      this.#ownFinal(500);
      return;
    }
    const b: InviteBranch<S> = new InviteBranch(
      this.#branchEnv,
      id,
      server,
      this.#env.target(server),
      v.message as SipRequest,
      {
        noAnswer: () => this.#giveUp(b, `no provisional reply within ${this.#env.inviteTimeoutMs}ms`),
        transportFailed: (e) => this.#transportFailed(b, e),
        timerC: () => {},
        cancelUnanswered: () => this.#branchFinal(b, this.#cancelled ? 487 : 408, undefined),
        expired: () => this.#env.bind(b.id, undefined),
      },
    );
    this.#branches.push(b);
    this.#current = b;
    this.#env.bind(id, this);
    b.start(this.#env.inviteTimeoutMs);
  }

  /** No provisional reply within invite_timeout, or the server is gone: the next server. */
  #giveUp(b: InviteBranch<S>, reason: string, cancel = false): void {
    if (b !== this.#current || this.#final !== undefined) return;
    b.abandon();
    if (cancel) b.cancel();
    this.#fail(b, reason);
  }

  /** The server found gone (server-gone.ts): a branch ringing there is CANCELled and moved on. */
  serverGone(key: string, reason: string): void {
    const b = this.#current;
    if (b === undefined || b.server.key !== key || this.#final !== undefined) return;
    // Rung until Timer C already: its 408 now, no other server.
    if (b.timerCFired) this.#branchFinal(b, 408, undefined);
    else this.#giveUp(b, `server gone: ${reason}`, true);
  }

  /**
   * The INVITE could not reach the server: the next one now, not at invite_timeout. The server
   * is blamed unless the failure was our own (local_resource, not_sent); too_large (over a
   * datagram's size) would be as large for every server: 513 at once.
   */
  #transportFailed(b: InviteBranch<S>, e: SipError): void {
    const reason = `transport: ${e.code}: ${e.message}`;
    const ours = e.code === "local_resource" || e.code === "not_sent" || e.code === "too_large";
    if (!ours) this.#giveUp(b, reason);
    else if (b === this.#current && this.#final === undefined) {
      b.abandon();
      this.#env.release(b.server);
      this.#failures.push({ server: b.server.key, error: reason });
      this.#current = undefined;
      if (e.code === "too_large") this.#ownFinal(513);
      else this.#next();
    }
  }

  #fail(b: InviteBranch<S>, reason: string): void {
    this.#env.release(b.server);
    this.#env.report(b.server, false, `INVITE failed: ${reason}`);
    this.#failures.push({ server: b.server.key, error: reason });
    this.#current = undefined;
    this.#next();
  }

  /** A response from a server, our Via already taken off. */
  onResponse(branchId: string, res: SipResponse, method: string): void {
    const b = this.#branches.find((x) => x.id === branchId);
    if (b === undefined) return;
    if (method === "CANCEL") b.cancelAnswered();
    else if (res.status < 200) this.#provisional(b, res);
    else if (res.status < 300) this.#success(b, res);
    else {
      b.final(res);
      this.#branchFinal(b, res.status, res);
    }
  }

  #provisional(b: InviteBranch<S>, res: SipResponse): void {
    b.provisional(res.status);
    // A branch we moved on from rings after all: it must not set up a call nobody takes.
    if (b !== this.#current || this.#final !== undefined) b.cancel();
    else if (res.status !== 100) {
      this.#last = serializeMessage(withCallerVias(res, this.#request));
      this.#env.sendBytes(this.#upstream, this.#last);
    }
  }

  /** Every 2xx goes upstream (§16.7 step 5), a late one from another branch too. */
  #success(b: InviteBranch<S>, res: SipResponse): void {
    const first = b.state !== "done";
    b.final(res);
    const bytes = serializeMessage(withCallerVias(res, this.#request));
    this.#env.sendBytes(this.#upstream, bytes);
    if (!first || this.#final !== undefined) return;
    const cur = this.#current;
    if (cur !== undefined && cur !== b) {
      // An abandoned branch answered while another was trying: that one is not wanted now.
      cur.cancel();
      this.#env.release(cur.server);
    }
    this.#env.report(b.server, true, "answered");
    this.#env.answered(res.status, b.server, b === cur, this.#failures);
    this.#current = b;
    this.#last = bytes;
    this.#final = res.status;
    // Accepted: no other server tried, no response of ours built. The INVITE (parse, text, SDP)
    // goes now, as a late 2xx needs only the caller's Vias (kept, GC would promote it).
    this.#request = callerViasOf(this.#request);
    this.#base = undefined;
    this.#finish(ACCEPTED_LINGER_MS);
  }

  #branchFinal(b: InviteBranch<S>, status: number, res: SipResponse | undefined): void {
    if (res === undefined) b.stop();
    if (b !== this.#current || this.#final !== undefined) return;
    if (!this.#cancelled && !b.timerCFired && this.#env.failoverCodes.includes(status)) {
      this.#fail(b, `answered ${status}`);
      return;
    }
    this.#env.release(b.server);
    this.#env.report(b.server, true, `answered ${status}`);
    if (res === undefined || b.timerCFired) {
      this.#ownFinal(b.timerCFired ? 408 : status, undefined, b.server);
      return;
    }
    const up = upstreamStatus(withCallerVias(res, this.#request));
    this.#sendFinal(up.status, serializeMessage(up), b.server);
  }

  /** A non-2xx final upstream: retransmitted (Timer G) until the ACK, kept 64·T1 (Timer H). */
  #sendFinal(status: number, bytes: Buffer, server: S | undefined): void {
    if (this.#final !== undefined) return;
    this.#final = status;
    this.#last = bytes;
    this.#env.answered(status, server, false, this.#failures);
    this.#env.sendBytes(this.#upstream, bytes);
    if (this.#env.retransmit && status >= 300) {
      const resend = (interval: number) => {
        this.#timerG = this.#env.clock.set(() => {
          this.#env.sendBytes(this.#upstream, bytes);
          resend(Math.min(interval * 2, T2));
        }, interval);
      };
      resend(T1);
    }
    this.#finish(TIMER_64T1);
  }

  #finish(ms: number): void {
    this.#env.clock.clear(this.#linger);
    this.#linger = this.#env.clock.set(() => this.close(), ms);
  }

  /** Every timer off, every branch forgotten; a call still being set up is answered 408 first. */
  close(): void {
    if (this.#over) return;
    const cur = this.#current;
    if (this.#final === undefined && cur !== undefined) {
      cur.cancel();
      this.#env.release(cur.server);
      this.#ownFinal(408, undefined, cur.server);
    }
    this.#over = true;
    const { clock } = this.#env;
    clock.clear(this.#timerG);
    clock.clear(this.#linger);
    for (const b of this.#branches) {
      b.stop();
      this.#env.bind(b.id, undefined);
    }
    this.#env.done();
  }
}
