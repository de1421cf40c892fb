/**
 * Requests a proxy makes toward a server on its own, from the INVITE it sent there: the ACK
 * of a non-2xx final response (RFC 3261 §17.1.1.3, hop by hop) and the CANCEL of a pending
 * branch (§9.1). Both carry the INVITE's branch, Request-URI, Call-ID, From, CSeq number and
 * Route set, so the server matches them to its INVITE transaction. And what a response
 * becomes on its way back to the caller.
 */

import { makeHeader } from "./headers.ts";
import { own } from "./recent.ts";
import type { SipHeader, SipRequest, SipResponse } from "./types.ts";

function copy(invite: SipRequest | SipResponse, name: string, first: boolean): SipHeader[] {
  const all = invite.headers.filter((h) => h.name === name);
  return first ? all.slice(0, 1) : all;
}

function hopRequest(invite: SipRequest, method: "ACK" | "CANCEL", to: SipHeader[]): SipRequest {
  const cseq = invite.headers.find((h) => h.name === "cseq")?.value ?? "1 INVITE";
  const seq = /^\s*(\d+)/.exec(cseq)?.[1] ?? "1";
  const headers: SipHeader[] = [
    // Only our Via: the request starts here (§9.1: the CANCEL's Via is the top Via of the INVITE).
    ...copy(invite, "via", true).map((h) => ({ ...h, value: h.value.split(",")[0]?.trim() ?? h.value })),
    ...copy(invite, "route", false),
    makeHeader("max-forwards", "70"),
    ...copy(invite, "from", true),
    ...to,
    ...copy(invite, "call-id", true),
    makeHeader("cseq", `${seq} ${method}`),
    makeHeader("content-length", "0"),
  ];
  return { kind: "request", method, uri: invite.uri, version: "SIP/2.0", headers, body: Buffer.alloc(0) };
}

/** The ACK of a non-2xx final: the To of the response (with its tag), the rest from the INVITE. */
export function ackFor(invite: SipRequest, response: SipResponse): SipRequest {
  return hopRequest(invite, "ACK", copy(response, "to", true));
}

/** The CANCEL of the INVITE's branch: its To as sent (no tag), the rest from the INVITE. */
export function cancelFor(invite: SipRequest): SipRequest {
  return hopRequest(invite, "CANCEL", copy(invite, "to", true));
}

/** 503 upstream means "this proxy is overloaded": a server's 503 is passed on as 500 (§16.7 step 6). */
export function upstreamStatus(res: SipResponse): SipResponse {
  return res.status === 503 ? { ...res, status: 500, reason: "Server Internal Error" } : res;
}

/**
 * A response as the caller gets it: the Via lines of the caller's INVITE in place of what is
 * left after ours (§16.7 step 3 leaves the same values; a server that builds its 487 from our
 * CANCEL, which carries only our Via, would leave none).
 */
export function withCallerVias(res: SipResponse, request: SipRequest): SipResponse {
  const vias = request.headers.filter((h) => h.name === "via");
  const at = res.headers.findIndex((h) => h.name === "via");
  const rest = res.headers.filter((h) => h.name !== "via");
  const from = at < 0 ? 0 : res.headers.slice(0, at).filter((h) => h.name !== "via").length;
  return { ...res, headers: [...rest.slice(0, from), ...vias, ...rest.slice(from)] };
}

const EMPTY = Buffer.alloc(0);

/**
 * The request reduced to what withCallerVias reads, its Via lines, as copies: it holds
 * nothing of the request's text (a slice of the datagram, body included) alive.
 */
export function callerViasOf(request: SipRequest): SipRequest {
  const headers = request.headers
    .filter((h) => h.name === "via")
    .map((h) => ({ name: h.name, rawName: own(h.rawName), value: own(h.value) }));
  return { ...request, uri: own(request.uri), headers, body: EMPTY };
}
