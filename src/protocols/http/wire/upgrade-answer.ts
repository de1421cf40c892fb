/**
 * The server's answer to an Upgrade request, read until it is known (RFC 9110 §7.8, RFC 6455
 * §4.1): a 101 opens the tunnel (its head and whatever follows go to the client as they
 * came); an interim 1xx is passed on; any other final answer is a refusal, relayed to its
 * body's end by its framing, after which the connection ends. A head split over reads is
 * joined first, so its status is never guessed from a piece.
 */

import { ChunkedScanner } from "./chunked.ts";
import { type Framing, isHeadError, parseResponseHead } from "./head.ts";
import { MAX_INTERIM } from "./upstream-call.ts";

/** A server's head larger than this is refused. */
const MAX_HEAD = 64 * 1024;

export type AnswerStep =
  /** `out`: bytes for the client now. */
  | { readonly kind: "wait" | "tunnel" | "done"; readonly out: Buffer }
  | { readonly kind: "bad"; readonly out: Buffer; readonly reason: string };

const NOTHING = Buffer.alloc(0);

export class UpgradeAnswer {
  readonly #method: string;
  #buf: Buffer | undefined;
  #framing: Framing | undefined;
  #left = 0;
  #scanner: ChunkedScanner | undefined;
  #interims = 0;
  /** The final status (101, or the refusal's); 0 while unknown. */
  status = 0;

  constructor(method: string) {
    this.#method = method;
  }

  read(c: Buffer): AnswerStep {
    if (this.#framing !== undefined) return this.#body(c);
    let buf = this.#buf === undefined ? c : Buffer.concat([this.#buf, c]);
    const out: Buffer[] = [];
    for (;;) {
      const r = parseResponseHead(buf, 0, MAX_HEAD, this.#method);
      if (r === undefined) {
        this.#buf = buf;
        return { kind: "wait", out: Buffer.concat(out) };
      }
      if (isHeadError(r)) return { kind: "bad", out: Buffer.concat(out), reason: r.reason };
      if (r.status === 101 || r.status >= 200) {
        this.#buf = undefined;
        this.status = r.status;
        if (r.status === 101) return { kind: "tunnel", out: Buffer.concat([...out, buf]) };
        out.push(buf.subarray(0, r.size));
        this.#framing = r.framing;
        this.#left = r.framing.kind === "length" ? r.framing.length : 0;
        this.#scanner = r.framing.kind === "chunked" ? new ChunkedScanner() : undefined;
        const body = this.#body(buf.subarray(r.size));
        return { ...body, out: Buffer.concat([...out, body.out]) };
      }
      // An interim answer (100, 103): passed on, the final one follows; not forever.
      if (++this.#interims > MAX_INTERIM)
        return { kind: "bad", out: Buffer.concat(out), reason: `over ${MAX_INTERIM} interim answers` };
      out.push(buf.subarray(0, r.size));
      buf = buf.subarray(r.size);
    }
  }

  /** Bytes of a refusal's body: passed on to its end. */
  #body(c: Buffer): AnswerStep {
    const f = this.#framing as Framing;
    if (f.kind === "close") return { kind: "wait", out: c };
    if (f.kind === "none") return { kind: "done", out: NOTHING };
    if (f.kind === "length") {
      const take = Math.min(this.#left, c.length);
      this.#left -= take;
      return { kind: this.#left === 0 ? "done" : "wait", out: c.subarray(0, take) };
    }
    const step = (this.#scanner as ChunkedScanner).feed(c, 0);
    if (step.error !== undefined) return { kind: "bad", out: c.subarray(0, step.used), reason: step.error };
    return { kind: step.done ? "done" : "wait", out: c.subarray(0, step.used) };
  }
}
