/**
 * Whole SIP calls with no sockets (INVITE, 100, 180, 200, ACK, BYE, 200), played through a
 * proxy's handle() by a caller and a server reduced to string edits, as SIPp's scenarios make
 * them: for the warm-up of a new process's SIP code (app/sip-warm-up.ts) and the core
 * benchmark (bench/sip/core.ts). `feed` parses and hands one message to the proxy; `sent` is
 * what the proxy has sent since, taken from as the peers read it.
 */

import type { SipPeer } from "./transport.ts";

export interface Sent {
  readonly to: SipPeer;
  readonly text: string;
}

export const CALLER: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };

export class SyntheticCalls {
  readonly #feed: (text: string, from: SipPeer) => void;
  readonly #sent: Sent[];
  /** Calls set up and not yet hung up, oldest first (a ring of `hold`): their Route lines. */
  readonly #held: (string[] | undefined)[];

  constructor(feed: (text: string, from: SipPeer) => void, sent: Sent[], hold: number) {
    this.#feed = feed;
    this.#sent = sent;
    this.#held = new Array(Math.max(1, hold));
  }

  /** Call n set up, then the BYE of the call `hold` before it. */
  step(n: number): void {
    const hold = this.#held.length;
    const old = this.#held[n % hold];
    if (old !== undefined) this.hangUp(n - hold, old);
    this.#held[n % hold] = this.setup(n);
  }

  /** INVITE to ACK; gives the Route lines for the BYE. */
  setup(n: number): string[] {
    this.#feed(callerRequest("INVITE", n, [], 1), CALLER);
    this.#take("SIP/2.0 100");
    const inv = this.#take("INVITE ");
    this.#feed(answer(inv.text, "180 Ringing"), inv.to);
    this.#take("SIP/2.0 180");
    this.#feed(answer(inv.text, "200 OK"), inv.to);
    const ok = this.#take("SIP/2.0 200");
    const rr = ok.text
      .split("\r\n")
      .filter((l) => /^record-route:/i.test(l))
      .map((l) => `Route:${l.slice(13)}`);
    this.#feed(callerRequest("ACK", n, rr, 1), CALLER);
    this.#take("ACK ");
    return rr;
  }

  /** A call left ringing: INVITE, 100, 180 and no final answer (its timers run on). */
  ring(n: number): void {
    this.#feed(callerRequest("INVITE", n, [], 1), CALLER);
    this.#take("SIP/2.0 100");
    const inv = this.#take("INVITE ");
    this.#feed(answer(inv.text, "180 Ringing"), inv.to);
    this.#take("SIP/2.0 180");
  }

  hangUp(n: number, rr: string[]): void {
    this.#feed(callerRequest("BYE", n, rr, 2), CALLER);
    const bye = this.#take("BYE ");
    this.#feed(answer(bye.text, "200 OK"), bye.to);
    this.#take("SIP/2.0 200");
  }

  /** The first message sent that starts so; the proxy not sending it is a bug in the proxy. */
  #take(start: string): Sent {
    const i = this.#sent.findIndex((o) => o.text.startsWith(start));
    const o = this.#sent[i];
    if (o === undefined)
      throw new Error(
        `not sent: ${start}; sent: ${this.#sent.map((x) => x.text.split("\r\n")[0]).join(" | ")}`,
      );
    this.#sent.splice(i, 1);
    return o;
  }
}

/** A response a UAS builds from a request: status line, its Vias, From, To (+tag), Call-ID, CSeq, RR. */
export function answer(req: string, status: string): string {
  const lines = req.split("\r\n");
  const keep = lines.filter((l) => /^(via|from|call-id|cseq|record-route):/i.test(l));
  const to = lines.find((l) => /^to:/i.test(l)) ?? "To: <sip:x@y>";
  return [
    `SIP/2.0 ${status}`,
    ...keep,
    to.includes("tag=") ? to : `${to};tag=uas1`,
    "Contact: <sip:uas@127.0.0.1:5070>",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

function callerRequest(method: string, n: number, extra: string[], cseq: number): string {
  return [
    // In the dialog, the Request-URI is the answerer's Contact (the remote target).
    `${method} ${method === "INVITE" ? "sip:bob@127.0.0.1:5060" : "sip:uas@127.0.0.1:5070"} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-${n}-${method}-${cseq};rport`,
    "Max-Forwards: 70",
    `From: "Alice" <sip:alice@127.0.0.1:5080>;tag=a${n}`,
    `To: <sip:bob@127.0.0.1:5060>${method === "INVITE" ? "" : ";tag=uas1"}`,
    `Call-ID: ${n}-core@127.0.0.1`,
    `CSeq: ${cseq} ${method}`,
    "Contact: <sip:alice@127.0.0.1:5080>",
    "User-Agent: core-bench",
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}
