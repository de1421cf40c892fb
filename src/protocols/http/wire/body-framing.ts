/**
 * Where a request body ends in the bytes read (RFC 9112 §6): a length, or the last chunk of a
 * chunked body (chunked-relay.ts: its trailers filtered). What follows is the next request's.
 */

import { ChunkedRelay } from "./chunked-relay.ts";
import type { Framing } from "./head.ts";

export class BodyFraming {
  #left: number;
  readonly #relay: ChunkedRelay | undefined;
  done: boolean;

  /** `maxLine`: bytes of a chunk extension and of the trailers, at most. */
  constructor(f: Framing, maxLine: number) {
    this.done = f.kind === "none";
    this.#left = f.kind === "length" ? f.length : 0;
    this.#relay = f.kind === "chunked" ? new ChunkedRelay(false, maxLine) : undefined;
  }

  /**
   * Bytes at the start of `buf` that belong to the body, or -1 when a chunked body is
   * malformed; what to pass on of them is pushed to `out`.
   */
  take(buf: Buffer, out: Buffer[]): number {
    if (this.#relay === undefined) {
      const used = Math.min(this.#left, buf.length);
      this.#left -= used;
      if (this.#left === 0) this.done = true;
      if (used > 0) out.push(used === buf.length ? buf : buf.subarray(0, used));
      return used;
    }
    const step = this.#relay.feed(buf, out);
    if (step.error !== undefined) return -1;
    if (step.done) this.done = true;
    return step.used;
  }
}
