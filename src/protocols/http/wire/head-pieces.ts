/**
 * A request head arriving in pieces (a slow client, or one byte per packet): the pieces are
 * kept apart until one may hold the head's end, or together they pass the size bound, and
 * are joined once then. A head sent byte by byte costs linear time, not a join and a rescan
 * of everything so far per byte.
 */

import { EMPTY_LINE } from "./head.ts";

export class HeadPieces {
  #parts: Buffer[] | undefined;
  #bytes = 0;

  /**
   * `c` arrives after `first` (and the pieces kept): the joined bytes when the head may end
   * in them or they pass `max`, else undefined (`c` is kept).
   */
  add(first: Buffer, c: Buffer, max: number): Buffer | undefined {
    const prev = this.#parts?.at(-1) ?? first;
    const seam = Buffer.concat([prev.subarray(Math.max(0, prev.length - 3)), c.subarray(0, 3)]);
    if (
      !c.includes(EMPTY_LINE) &&
      !seam.includes(EMPTY_LINE) &&
      first.length + this.#bytes + c.length <= max
    ) {
      this.#parts ??= [];
      this.#parts.push(c);
      this.#bytes += c.length;
      return undefined;
    }
    const parts = this.#parts;
    this.clear();
    return parts === undefined ? Buffer.concat([first, c]) : Buffer.concat([first, ...parts, c]);
  }

  clear(): void {
    this.#parts = undefined;
    this.#bytes = 0;
  }
}
