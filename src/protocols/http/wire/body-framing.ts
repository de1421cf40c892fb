/**
 * Where a request body ends in the bytes read (RFC 9112 §6): a length, or the last chunk of a
 * chunked body (chunked.ts). What follows is the next request's.
 */

import { ChunkedScanner } from "./chunked.ts";
import type { Framing } from "./head.ts";

export class BodyFraming {
  #left: number;
  readonly #scanner: ChunkedScanner | undefined;
  done: boolean;

  /** `maxLine`: bytes of a chunk extension and of the trailers, at most. */
  constructor(f: Framing, maxLine: number) {
    this.done = f.kind === "none";
    this.#left = f.kind === "length" ? f.length : 0;
    this.#scanner = f.kind === "chunked" ? new ChunkedScanner(maxLine) : undefined;
  }

  /** Bytes at the start of `buf` that belong to the body, or -1 when a chunked body is malformed. */
  take(buf: Buffer): number {
    if (this.#scanner === undefined) {
      const used = Math.min(this.#left, buf.length);
      this.#left -= used;
      if (this.#left === 0) this.done = true;
      return used;
    }
    const step = this.#scanner.feed(buf, 0);
    if (step.error !== undefined) return -1;
    if (step.done) this.done = true;
    return step.used;
  }
}
