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
    const seam = Buffer.concat([this.#tail(first), c.subarray(0, 3)]);
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

  /**
   * The last 3 bytes received before `c`, across as many pieces as they span: an empty line
   * can arrive a byte per packet (`\r\n` ending one piece, then `\r`, then `\n`).
   */
  #tail(first: Buffer): Buffer {
    const parts = this.#parts ?? [];
    const tail: Buffer[] = [];
    let need = 3;
    for (let i = parts.length - 1; i >= -1 && need > 0; i--) {
      const p = i >= 0 ? (parts[i] as Buffer) : first;
      const take = p.subarray(Math.max(0, p.length - need));
      tail.unshift(take);
      need -= take.length;
    }
    return Buffer.concat(tail);
  }

  clear(): void {
    this.#parts = undefined;
    this.#bytes = 0;
  }
}
