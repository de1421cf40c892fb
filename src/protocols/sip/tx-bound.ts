/**
 * The bounds on INVITE server transactions: how many, and how many bytes. A transaction
 * answered with a final non-2xx lives on for 64·T1 (32 s) to retransmit that answer until the
 * ACK comes and to absorb the INVITE's retransmissions (RFC 3261 §17.2.1); a caller that never
 * ACKs (a flood of INVITEs that the servers reject) would otherwise keep each one outside
 * max_calls. A transaction holds its INVITE several times over (as received, as parsed, as
 * sent to the server for retransmission), so big INVITEs make a count bound no memory bound.
 * Measured per ringing call (heap and Buffers): 14.9 KB for an INVITE of 0.6 KB, 135 KB for
 * one of 40 KB; txCost counts 13.8 KB and 133 KB.
 * Over either bound, the oldest answered transactions are closed first: their final answer is
 * no longer retransmitted, and an INVITE retransmission after that is a new attempt.
 * Transactions still ringing are calls: when they alone fill the bytes, a new INVITE is
 * refused (the caller gets 503) until some end.
 */

/** What the bound needs of a transaction. */
export interface BoundedTx {
  readonly finalStatus: number | undefined;
  close(): void;
}

/** Bytes a transaction is counted for: its INVITE three times over, its call and its objects. */
export function txCost(inviteBytes: number): number {
  return 3 * inviteBytes + 12 * 1024;
}

export class TxHold<T extends BoundedTx> {
  readonly #held = new Map<string, { readonly tx: T; readonly bytes: number }>();
  #bytes = 0;
  readonly #maxCount: number;
  readonly #maxBytes: number;

  constructor(maxCount: number, maxBytes: number) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Bytes counted for the transactions held. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): T | undefined {
    return this.#held.get(key)?.tx;
  }

  values(): T[] {
    return [...this.#held.values()].map((h) => h.tx);
  }

  /**
   * Makes room for one more transaction of `bytes`, closing the oldest answered ones (a Map
   * iterates in insertion order; close() forgets the entry as we go). False: the ringing ones
   * alone leave no room, refuse the new one.
   */
  room(bytes: number): boolean {
    const fits = () => this.#held.size < this.#maxCount && this.#bytes + bytes <= this.#maxBytes;
    if (fits()) return true;
    for (const h of [...this.#held.values()]) {
      if (h.tx.finalStatus !== undefined) h.tx.close();
      if (fits()) return true;
    }
    return false;
  }

  hold(key: string, tx: T, bytes: number): void {
    this.forget(key);
    this.#held.set(key, { tx, bytes });
    this.#bytes += bytes;
  }

  forget(key: string): void {
    const h = this.#held.get(key);
    if (h === undefined) return;
    this.#held.delete(key);
    this.#bytes -= h.bytes;
  }
}
