/**
 * The SIP proxy core (RFC 3261 §16) for one listener: every message goes through handle().
 * Initial INVITEs are transaction-stateful (initial-invite.ts); other requests go on
 * statelessly (§16.11: a retransmission gets the same branch), in-dialog ones to the server
 * their token names. Responses go to their INVITE transaction by our Via's branch, else back
 * along the Via path when our Via's seal names the Via below it (via-seal.ts). */

import { hash } from "node:crypto";
import type { PoolMember } from "../../balance/pool.ts";
import { type CallEnd, type CallRecord, CallTable } from "./calls.ts";
import { removeTopVia } from "./edit.ts";
import { parseCSeq, toTag } from "./fields.ts";
import { isOurVia, stampTopVia, statelessForward, viaTarget, viaTransportMismatch } from "./forward.ts";
import { headerValue, headerValues } from "./headers.ts";
import { upstreamStatus } from "./hop.ts";
import { dialogHop, noteInDialog } from "./in-dialog.ts";
import { type InviteContext, startInvite } from "./initial-invite.ts";
import type { InviteTransaction } from "./invite-tx.ts";
import { memberTarget, type SipProxyEnv, type SipProxyStats } from "./proxy-env.ts";
import { recordRoutes } from "./record-route.ts";
import { buildResponse } from "./response.ts";
import { preprocessRoute, validateRequest } from "./route.ts";
import { serializeMessage } from "./serialize.ts";
import { onServerGone } from "./server-gone.ts";
import type { SipInbound, SipPeer } from "./transport.ts";
import { TxHold, txCost } from "./tx-bound.ts";
import { txKey } from "./tx-key.ts";
import { MAX_UDP_PAYLOAD, type SipRequest, type SipResponse } from "./types.ts";
import { parseUri, sameHostPort } from "./uri.ts";
import { parseVia } from "./via.ts";
import { requestSeal, sealedFor } from "./via-seal.ts";

/** Requests whose answer may set up a dialog: they get our Record-Route (§16.6 step 4). */
const DIALOG_METHODS = new Set(["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"]);
const ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, SUBSCRIBE, NOTIFY, MESSAGE, PRACK";

export class SipProxy {
  readonly #env: SipProxyEnv;
  readonly #inviteCtx: InviteContext;
  readonly calls: CallTable;
  readonly stats: SipProxyStats = { dropped: new Map(), answered: new Map() };
  /** Server transactions of initial INVITEs, by the caller's branch. */
  readonly #serverTx: TxHold<InviteTransaction<PoolMember>>;
  /** Our client branches, by branch id. */
  readonly #branches = new Map<string, InviteTransaction<PoolMember>>();
  #draining = false;
  /** A server gone (its pings refused): the INVITEs waiting on it move on at once. */
  readonly #offGone: () => void;

  constructor(env: SipProxyEnv, onCallEnd: (c: CallRecord, why: CallEnd, now: number) => void) {
    this.#env = env;
    this.calls = new CallTable(env.options.maxCalls, env.options.callTimeoutMs, onCallEnd);
    this.#serverTx = new TxHold(env.options.maxCalls, env.options.maxTransactionBytes);
    this.#inviteCtx = {
      env,
      calls: this.calls,
      bindBranch: (id, tx) => (tx === undefined ? this.#branches.delete(id) : this.#branches.set(id, tx)),
      forget: (key) => this.#serverTx.forget(key),
      sendBytes: (to, bytes, failed) => bytes.length > 0 && env.sender.send(to, bytes, undefined, failed),
    };
    this.#offGone = onServerGone(env.events, (key, why) => {
      for (const tx of this.#serverTx.values()) tx.serverGone(key, why);
    });
  }

  /** INVITE transactions in progress (set up or lingering for retransmissions). */
  get transactions(): number {
    return this.#serverTx.size;
  }

  /** No new initial INVITE from now on (503); calls in progress go on. */
  drain(): void {
    this.#draining = true;
  }

  drop(reason: string): void {
    this.stats.dropped.set(reason, (this.stats.dropped.get(reason) ?? 0) + 1);
    const ev = this.#env.events;
    if (ev.has("sip.dropped")) ev.emit("sip.dropped", { listener: this.#env.listener, reason });
  }

  handle(inb: SipInbound): void {
    if (inb.message.kind === "response") this.#response(inb.message, inb.source);
    else this.#request(inb.message, inb.source, inb.size);
  }

  #reply(
    req: SipRequest,
    to: SipPeer,
    status: number,
    headers: readonly (readonly [string, string])[] = [],
  ): void {
    if (req.method === "ACK") {
      // An ACK is never answered (§17.2.1); one we cannot take is at least counted.
      this.drop(`ack_${status}`);
      return;
    }
    const tag = hash("sha256", txKey(req), "base64url").slice(0, 12);
    const r = buildResponse(req, status, { toTag: tag, headers });
    if (!r.ok) {
      this.drop("unanswerable");
      return;
    }
    this.stats.answered.set(status, (this.stats.answered.get(status) ?? 0) + 1);
    this.#env.sender.send(to, serializeMessage(r.response));
  }

  #request(req: SipRequest, source: SipPeer, size: number): void {
    if (viaTransportMismatch(req, source)) {
      // Not answered as its Via says (a connection to an address the sender chose): a
      // datagram is dropped, a stream gets its 400 on its own connection.
      if (source.transport === "udp") this.drop("via_transport");
      else this.#reply(req, source, 400);
      return;
    }
    const stamped = stampTopVia(req, source);
    const upstream = viaTarget(headerValue(stamped, "via") ?? "", source.transport) ?? source;
    const key = txKey(req);
    const tx = this.#serverTx.get(key);
    if (req.method === "ACK" && tx !== undefined && (tx.finalStatus ?? 0) >= 300) {
      tx.ack();
      return;
    }
    if (
      req.method === "INVITE" &&
      (tx !== undefined || this.calls.get(headerValue(req, "call-id") ?? "")?.inviteKey === key)
    ) {
      // A retransmission (RFC 6026 Accepted: of one answered 2xx, absorbed): our answer was late.
      this.#env.overload?.sign();
      if (tx !== undefined) tx.retransmission();
      else this.drop("invite_retransmission");
      return;
    }
    if (req.method === "CANCEL") {
      if (tx === undefined) {
        this.#reply(stamped, upstream, 481);
        return;
      }
      this.#reply(stamped, upstream, 200);
      tx.cancel();
      return;
    }
    const valid = validateRequest(req);
    if (!valid.ok) {
      const r = valid.rejection;
      if (req.method === "OPTIONS" && r.status === 483)
        this.#reply(stamped, upstream, 200, [["Allow", ALLOW]]);
      else this.#reply(stamped, upstream, r.status, r.headers);
      return;
    }
    const routed = preprocessRoute(stamped, this.#env.us);
    if (!routed.ok) {
      this.#reply(stamped, upstream, 400);
      return;
    }
    if (routed.popped > 0) {
      this.#inDialog(req, routed.message, routed.popped, source, upstream);
      return;
    }
    if (toTag(req) !== undefined) {
      // In a dialog, but not one we record-routed: we are no open relay.
      this.#reply(stamped, upstream, 403, [["Warning", '399 trunkline "not routed through this proxy"']]);
      return;
    }
    const ruri = parseUri(routed.message.uri);
    const toUs = ruri.ok && ruri.uri.user === undefined && sameHostPort(ruri.uri, this.#env.us);
    if (toUs && headerValues(routed.message, "route").length === 0) {
      const ping = req.method === "OPTIONS";
      this.#reply(stamped, upstream, ping ? 200 : 404, ping ? [["Allow", ALLOW]] : []);
      return;
    }
    this.#initial(stamped, routed.message, upstream, size);
  }

  #initial(stamped: SipRequest, routed: SipRequest, upstream: SipPeer, size: number): void {
    const route = this.#env.routes()?.find(this.#env.listener, stamped);
    const pool = route?.pool === undefined ? undefined : this.#env.pools().get(route.pool);
    if (route === undefined) {
      this.#reply(stamped, upstream, 404);
      return;
    }
    if (pool === undefined) {
      this.#reply(stamped, upstream, 503, [["Retry-After", "5"]]);
      return;
    }
    if (stamped.method !== "INVITE") {
      const callId = headerValue(stamped, "call-id") ?? "";
      const member = pool.acquire(pool.config.hashKeyOf(new Map([["call_id", callId]])), new Set());
      if (member === undefined) {
        this.#reply(stamped, upstream, 503, [["Retry-After", "5"]]);
        return;
      }
      pool.release(member);
      const to = memberTarget(member, this.#env.serverTransport);
      this.#forward(stamped, routed, upstream, to, this.#rr(stamped, upstream, member.key));
      return;
    }
    const cost = txCost(size);
    // Refused while draining, or while the loop is saturated (net/load-shed.ts), before room()
    // closes answered transactions to make some: calls in progress go on.
    const shed = !this.#draining && this.#env.overload?.admit() === false;
    const full = !this.#draining && !shed && !this.#serverTx.room(cost);
    if (this.#draining || full || shed) {
      if (!this.#draining) this.drop(full ? "transactions_full" : "overloaded");
      this.#reply(stamped, upstream, 503, [["Retry-After", "5"]]);
      return;
    }
    const key = txKey(stamped);
    const toTagOwn = hash("sha256", key, "base64url").slice(0, 12);
    const tx = startInvite(this.#inviteCtx, stamped, routed, upstream, pool, route.name, toTagOwn, key);
    if ("status" in tx) {
      const retry: [string, string][] = tx.status === 503 ? [["Retry-After", "5"]] : [];
      this.#reply(stamped, upstream, tx.status, retry);
      return;
    }
    this.#serverTx.hold(key, tx, cost);
    tx.start();
  }

  #rr(req: SipRequest, upstream: SipPeer, server: string): readonly string[] {
    if (!DIALOG_METHODS.has(req.method)) return [];
    return recordRoutes(this.#env, upstream.transport, server, headerValue(req, "call-id") ?? "");
  }

  /** A request that carried our Route (§16.4): on to where its token says (in-dialog.ts). */
  #inDialog(
    original: SipRequest,
    routed: SipRequest,
    popped: number,
    source: SipPeer,
    upstream: SipPeer,
  ): void {
    const hop = dialogHop(this.#env, this.calls, original, routed, popped, source);
    if (!hop.ok) {
      if (hop.drop !== undefined) this.drop(hop.drop);
      const warning: [string, string][] = hop.warning ? [["Warning", `399 trunkline "${hop.warning}"`]] : [];
      this.#reply(routed, upstream, hop.status, warning);
      return;
    }
    noteInDialog(this.#env, this.calls, original, hop, upstream);
    this.#forward(original, routed, upstream, hop.target, []);
  }

  /** §16.6 statelessly (§16.11), then sent; a request that cannot go on is answered or dropped. */
  #forward(
    original: SipRequest,
    routed: SipRequest,
    upstream: SipPeer,
    to: SipPeer,
    rr: readonly string[],
  ): void {
    const seal = requestSeal(this.#env.sealKeys, routed, this.#env.serverTransport);
    const f = statelessForward(this.#env.us, original, routed, to.transport, rr, seal);
    if (!f.ok) {
      if (f.status !== undefined) this.#reply(routed, upstream, f.status);
      else this.drop(f.drop);
      return;
    }
    const bytes = serializeMessage(f.message);
    // Bigger than a datagram can be (RFC 3261 §18.1.1 would take TCP; this hop is UDP): 513.
    if (to.transport === "udp" && bytes.length > MAX_UDP_PAYLOAD) this.#reply(routed, upstream, 513);
    else this.#env.sender.send(to, bytes);
  }

  #response(res: SipResponse, source: SipPeer): void {
    const top = removeTopVia(res);
    if (!top.ok || !isOurVia(top.removed, this.#env.us)) {
      this.drop("not_our_via");
      return;
    }
    const ours = parseVia(top.removed);
    const branch = ours.ok ? ours.via.branch : undefined;
    const cseq = parseCSeq(headerValue(res, "cseq") ?? "");
    const method = cseq.ok ? cseq.cseq.method : "";
    const tx = branch === undefined ? undefined : this.#branches.get(branch);
    if (tx !== undefined && branch !== undefined) {
      tx.onResponse(branch, top.message as SipResponse, method);
      return;
    }
    const next = headerValue(top.message, "via");
    const target = next === undefined ? undefined : viaTarget(next, this.#env.serverTransport);
    if (target === undefined || branch === undefined || !sealedFor(this.#env.sealKeys, branch, target)) {
      // No reflector: only a Via we sealed for the Via below it sends a response on.
      this.drop(target === undefined ? "no_next_via" : "unsealed_via");
      return;
    }
    this.#env.sender.send(target, serializeMessage(upstreamStatus(top.message as SipResponse)));
    if (method === "BYE" && res.status >= 200)
      this.calls.byeAnswered(headerValue(res, "call-id") ?? "", source, this.#env.clock.now());
  }

  /** Every INVITE transaction ended (a call still ringing is answered 408). */
  close(): void {
    this.#offGone();
    for (const tx of this.#serverTx.values()) tx.close();
    this.calls.closeAll(this.#env.clock.now());
  }
}
