/**
 * An initial INVITE accepted by the routes: checked for loops (§16.3 step 4), entered in the
 * calls table, and handed to an InviteTransaction whose hooks reach the pool (acquire,
 * release, report), sign the Record-Route token for each server tried, and end the call
 * record on a failed final answer.
 */

import type { Pool, PoolMember } from "../../balance/pool.ts";
import { branchParts, loopCheck, loopKey, newBranch, type Seal } from "./branch.ts";
import type { CallRecord, CallTable } from "./calls.ts";
import type { SipClock } from "./clock.ts";
import { decrementMaxForwards } from "./edit.ts";
import { ourVia } from "./forward.ts";
import { headerValue, headerValues } from "./headers.ts";
import type { FailedBranch, InviteEnv } from "./invite-env.ts";
import { InviteTransaction } from "./invite-tx.ts";
import {
  failoverCodes,
  inviteTimeoutMs,
  memberTarget,
  ringTimeoutMs,
  type SipProxyEnv,
} from "./proxy-env.ts";
import { own } from "./recent.ts";
import { recordRoutes } from "./record-route.ts";
import type { SipPeer, SipTransportName } from "./transport.ts";
import type { SipRequest } from "./types.ts";
import { requestSeal } from "./via-seal.ts";

/** What every INVITE of one proxy shares: made once per proxy, not per INVITE. */
export interface InviteContext {
  readonly env: SipProxyEnv;
  readonly calls: CallTable;
  readonly bindBranch: (id: string, tx: InviteTransaction<PoolMember> | undefined) => void;
  /** The transaction of this key (tx-key.ts) is over: forget it. */
  readonly forget: (key: string) => void;
  /** To a peer; empty bytes (an answer that could not be built) are not sent. */
  readonly sendBytes: InviteEnv<PoolMember>["sendBytes"];
}

export type InviteRefusal = { readonly status: number; readonly reason: string };

/**
 * Starts the transaction, or gives the status to refuse the INVITE with. `stamped` is the
 * caller's INVITE with its Via stamped; `routed` the same after Route pre-processing; `key`
 * the stamped INVITE's transaction key (tx-key.ts), as the proxy holds the transaction by.
 */
export function startInvite(
  ctx: InviteContext,
  stamped: SipRequest,
  routed: SipRequest,
  upstream: SipPeer,
  pool: Pool,
  route: string | undefined,
  toTag: string,
  key: string,
): InviteTransaction<PoolMember> | InviteRefusal {
  const { env, calls } = ctx;
  // A copy (recent.ts own): the call record and the transaction keep it for the whole call.
  const callId = own(headerValue(stamped, "call-id") ?? "");
  const parts = branchParts(routed);
  if (!parts.ok) return { status: 400, reason: parts.error.message };
  const lk = loopKey(parts.parts);
  if (loopCheck(headerValues(stamped, "via"), env.us, newBranch(lk)))
    return { status: 482, reason: "loop detected" };
  if (calls.get(callId) !== undefined)
    return { status: 482, reason: "a call with this Call-ID is in progress" };
  if (calls.full) return { status: 503, reason: "calls table full" };
  const mf = decrementMaxForwards(routed);
  if (!mf.ok) return { status: 483, reason: mf.error.message };
  const now = env.clock.now();
  // Copies (recent.ts own): a call may last hours, and each of these is a slice of the whole
  // INVITE's text, which it would keep alive with it.
  const record: CallRecord = {
    callId,
    inviteKey: own(key),
    client: `${upstream.host}:${upstream.port}`,
    request: own(stamped.uri),
    from: own(headerValue(stamped, "from") ?? ""),
    to: own(headerValue(stamped, "to") ?? ""),
    route,
    pool: pool.name,
    server: undefined,
    startedAt: now,
    setupMs: undefined,
    finalCode: undefined,
    release: undefined,
    failures: [],
  };
  calls.add(record);
  // The balancer's hash key is made for the hash balancer only (no template to fill otherwise).
  const hashKey =
    pool.config.balance === "hash"
      ? own(
          pool.config.hashKeyOf(
            new Map([
              ["call_id", callId],
              ["request_uri", stamped.uri],
            ]),
          ),
        )
      : "";
  const tx = new InviteTransaction<PoolMember>(
    new CallInviteEnv(
      ctx,
      pool,
      upstream,
      record,
      hashKey,
      requestSeal(env.sealKeys, stamped, env.serverTransport),
      key,
    ),
    stamped,
    mf.message as SipRequest,
    upstream,
    toTag,
    lk,
  );
  return tx;
}

/**
 * One INVITE's hooks into the proxy (invite-env.ts): one object per INVITE whose methods read
 * its fields, where a dozen closures (and their contexts) were made per INVITE and kept for
 * the transaction's life, past its 2xx.
 */
class CallInviteEnv implements InviteEnv<PoolMember> {
  readonly clock: SipClock;
  readonly sendBytes: InviteEnv<PoolMember>["sendBytes"];
  readonly retransmit: boolean;
  readonly retransmitBranches: boolean;
  readonly failoverCodes: readonly number[];
  readonly inviteTimeoutMs: number;
  readonly ringTimeoutMs: number;
  readonly seal: Seal | undefined;
  readonly #ctx: InviteContext;
  readonly #pool: Pool;
  readonly #inbound: SipTransportName;
  readonly #record: CallRecord;
  readonly #hashKey: string;
  readonly #key: string;

  constructor(
    ctx: InviteContext,
    pool: Pool,
    upstream: SipPeer,
    record: CallRecord,
    hashKey: string,
    seal: Seal | undefined,
    key: string,
  ) {
    const { env } = ctx;
    this.clock = env.clock;
    this.sendBytes = ctx.sendBytes;
    this.retransmit = upstream.transport === "udp";
    this.retransmitBranches = env.serverTransport === "udp";
    this.failoverCodes = failoverCodes(pool);
    this.inviteTimeoutMs = inviteTimeoutMs(pool);
    this.ringTimeoutMs = ringTimeoutMs(pool);
    this.seal = seal;
    this.#ctx = ctx;
    this.#pool = pool;
    this.#inbound = upstream.transport;
    this.#record = record;
    this.#hashKey = hashKey;
    this.#key = key;
  }

  via(branch: string): string {
    const { env } = this.#ctx;
    return ourVia({ ...env.us, transport: env.serverTransport }, branch);
  }

  recordRoute(server: PoolMember): readonly string[] {
    return recordRoutes(this.#ctx.env, this.#inbound, server.key, this.#record.callId);
  }

  target(m: PoolMember): SipPeer {
    return memberTarget(m, this.#ctx.env.serverTransport);
  }

  acquire(tried: ReadonlySet<PoolMember>): PoolMember | undefined {
    return this.#pool.acquire(this.#hashKey, tried);
  }

  release(s: PoolMember): void {
    this.#pool.release(s);
  }

  report(s: PoolMember, ok: boolean, reason: string): void {
    this.#pool.report(s, ok ? { ok: true } : { ok: false, reason });
  }

  bind(branch: string, tx: InviteTransaction<PoolMember> | undefined): void {
    this.#ctx.bindBranch(branch, tx);
  }

  answered(
    code: number,
    server: PoolMember | undefined,
    held: boolean,
    failures: readonly FailedBranch[],
  ): void {
    const record = this.#record;
    const pool = this.#pool;
    const at = this.clock.now();
    record.finalCode = code;
    record.setupMs = at - record.startedAt;
    record.server = server?.key;
    record.failures = failures;
    if (failures.length > 0 && server !== undefined && code < 300) pool.failedOver(server);
    if (code >= 200 && code < 300) {
      if (held && server !== undefined) record.release = () => pool.release(server);
    } else this.#ctx.calls.end(record.callId, "rejected", at);
  }

  done(): void {
    this.#ctx.forget(this.#key);
  }
}
