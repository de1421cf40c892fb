/**
 * An initial INVITE accepted by the routes: checked for loops (§16.3 step 4), entered in the
 * calls table, and handed to an InviteTransaction whose hooks reach the pool (acquire,
 * release, report), sign the Record-Route token for each server tried, and end the call
 * record on a failed final answer.
 */

import type { Pool, PoolMember } from "../../balance/pool.ts";
import { branchParts, loopCheck, loopKey, newBranch } from "./branch.ts";
import type { CallRecord, CallTable } from "./calls.ts";
import { decrementMaxForwards } from "./edit.ts";
import { ourVia } from "./forward.ts";
import { headerValue, headerValues } from "./headers.ts";
import { InviteTransaction } from "./invite-tx.ts";
import { failoverCodes, inviteTimeoutMs, memberTarget, type SipProxyEnv } from "./proxy-env.ts";
import { own } from "./recent.ts";
import { recordRoutes } from "./record-route.ts";
import type { SipPeer } from "./transport.ts";
import { txKey } from "./tx-key.ts";
import type { SipRequest } from "./types.ts";
import { requestSeal } from "./via-seal.ts";

export interface InviteContext {
  readonly env: SipProxyEnv;
  readonly calls: CallTable;
  readonly bindBranch: (id: string, tx: InviteTransaction<PoolMember> | undefined) => void;
  readonly forget: () => void;
}

export type InviteRefusal = { readonly status: number; readonly reason: string };

/**
 * Starts the transaction, or gives the status to refuse the INVITE with. `stamped` is the
 * caller's INVITE with its Via stamped; `routed` the same after Route pre-processing.
 */
export function startInvite(
  ctx: InviteContext,
  stamped: SipRequest,
  routed: SipRequest,
  upstream: SipPeer,
  pool: Pool,
  route: string | undefined,
  toTag: string,
): InviteTransaction<PoolMember> | InviteRefusal {
  const { env, calls } = ctx;
  // A copy (recent.ts own): the closures below keep it for the whole call.
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
    inviteKey: own(txKey(stamped)),
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
  const vars = new Map([
    ["call_id", callId],
    ["request_uri", stamped.uri],
  ]);
  const hashKey = own(pool.config.hashKeyOf(vars));
  const tx = new InviteTransaction<PoolMember>(
    {
      clock: env.clock,
      // Empty bytes: an answer that could not be built (validateRequest should have refused it).
      sendBytes: (to, bytes, failed) => bytes.length > 0 && env.sender.send(to, bytes, undefined, failed),
      retransmit: upstream.transport === "udp",
      retransmitBranches: env.serverTransport === "udp",
      failoverCodes: failoverCodes(pool),
      inviteTimeoutMs: inviteTimeoutMs(pool),
      via: (branch) => ourVia({ ...env.us, transport: env.serverTransport }, branch),
      seal: requestSeal(env.sealKeys, stamped, env.serverTransport),
      recordRoute: (server) => recordRoutes(env, upstream.transport, server.key, callId),
      target: (m) => memberTarget(m, env.serverTransport),
      acquire: (tried) => pool.acquire(hashKey, tried),
      release: (s) => pool.release(s),
      report: (s, ok, reason) => pool.report(s, ok ? { ok: true } : { ok: false, reason }),
      bind: ctx.bindBranch,
      answered: (code, server, held, failures) => {
        const at = env.clock.now();
        record.finalCode = code;
        record.setupMs = at - now;
        record.server = server?.key;
        record.failures = failures;
        if (failures.length > 0 && server !== undefined && code < 300) pool.failedOver(server);
        if (code >= 200 && code < 300) {
          if (held && server !== undefined) record.release = () => pool.release(server);
        } else calls.end(callId, "rejected", at);
      },
      done: ctx.forget,
    },
    stamped,
    mf.message as SipRequest,
    upstream,
    toTag,
    lk,
  );
  return tx;
}
