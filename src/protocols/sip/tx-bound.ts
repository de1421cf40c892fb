/**
 * The bound on INVITE server transactions. A transaction answered with a final non-2xx lives
 * on for 64·T1 (32 s) to retransmit that answer until the ACK comes and to absorb the INVITE's
 * retransmissions (RFC 3261 §17.2.1); a caller that never ACKs (a flood of INVITEs that the
 * servers reject) would otherwise keep each one, about 10 KB, outside max_calls. Over the
 * bound, the oldest answered ones are closed first: their final answer is no longer
 * retransmitted, and an INVITE retransmission after that is a new attempt. Transactions still
 * ringing are calls, which max_calls already bounds.
 */

/** What the bound needs of a transaction. */
export interface BoundedTx {
  readonly finalStatus: number | undefined;
  close(): void;
}

/** Holds `tx` under `key`, then closes the oldest answered transactions while more than `max` are held. */
export function holdTx<T extends BoundedTx>(held: Map<string, T>, key: string, tx: T, max: number): void {
  held.set(key, tx);
  if (held.size <= max) return;
  // A Map iterates in insertion order (oldest first); close() removes the entry as we go.
  for (const [k, t] of held) {
    if (held.size <= max) return;
    if (k !== key && t.finalStatus !== undefined) t.close();
  }
}
