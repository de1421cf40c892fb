/**
 * The records waiting for the network, bounded by count and by bytes. When a new record
 * would not fit, the oldest go first (the newest say most about what is happening now),
 * and every record given up is counted.
 */
export class RecordQueue {
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  #items: Buffer[] = [];
  #bytes = 0;
  #dropped = 0;

  constructor(maxRecords: number, maxBytes: number) {
    this.#maxRecords = maxRecords;
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Records given up: pushed out by newer ones, or cleared by dropAll(). */
  get dropped(): number {
    return this.#dropped;
  }

  push(item: Buffer): void {
    while (
      this.#items.length > 0 &&
      (this.#items.length >= this.#maxRecords || this.#bytes + item.length > this.#maxBytes)
    ) {
      const old = this.#items.shift() as Buffer;
      this.#bytes -= old.length;
      this.#dropped++;
    }
    this.#items.push(item);
    this.#bytes += item.length;
  }

  /** The oldest record; only call while length > 0. */
  shift(): Buffer {
    const item = this.#items.shift() as Buffer;
    this.#bytes -= item.length;
    return item;
  }

  /** Gives up every waiting record, counted as dropped. */
  dropAll(): void {
    this.#dropped += this.#items.length;
    this.#items = [];
    this.#bytes = 0;
  }
}
