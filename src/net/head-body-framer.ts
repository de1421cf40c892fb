/**
 * What a protocol makes of a complete header section: a message with no body, the number of
 * body bytes to wait for (and what to make of them), or an error.
 */
export type HeadOutcome<M, E> =
  | { readonly done: M }
  | { readonly body: number; readonly onBody: (body: Buffer) => { readonly done: M } | { readonly error: E } }
  | { readonly error: E };

export interface FramerPush<M, E> {
  /** The messages these bytes completed, in order. */
  readonly items: M[];
  /** Set once the stream cannot be read any further; every later push repeats it. */
  readonly error?: E;
}

/**
 * Cuts a byte stream into "header lines, an empty line, then a body whose length the headers
 * give" messages: SIP over TCP/TLS (RFC 3261 §18.3) and FreeSWITCH's event socket share this
 * framing, and only what a header section means differs (`onHead`).
 *
 * The outcome depends only on the bytes, not on how the socket split them: each header byte
 * is scanned once, never past `maxHeadBytes`, and a message's bytes are joined once, so a
 * peer trickling bytes costs linear work. Line ends are LF, with an optional CR before it.
 * Empty lines where a message would start are skipped (SIP keep-alives, RFC 5626 §3.5.1).
 * After an error the framing of what follows cannot be trusted: the framer stops.
 */
export class HeadBodyFramer<M, E> {
  readonly #maxHead: number;
  readonly #tooLarge: () => E;
  readonly #onHead: (head: Buffer) => HeadOutcome<M, E>;
  #state: "between" | "head" | "body" = "between";
  #parts: Buffer[] = [];
  #length = 0;
  /** The current header line: its length and last byte (a lone CR line is an empty line). */
  #lineLen = 0;
  #lastByte = -1;
  /** Body bytes still to come, and what to make of them. */
  #need = 0;
  #onBody: ((body: Buffer) => { readonly done: M } | { readonly error: E }) | undefined;
  /** While a body is awaited: the bytes of its header section, still part of the message. */
  #headLength = 0;
  #error: E | undefined;

  /** `tooLarge` is the error for a header section longer than `maxHeadBytes`. */
  constructor(maxHeadBytes: number, tooLarge: () => E, onHead: (head: Buffer) => HeadOutcome<M, E>) {
    this.#maxHead = maxHeadBytes;
    this.#tooLarge = tooLarge;
    this.#onHead = onHead;
  }

  /** Bytes of an unfinished message received (0 between messages). */
  get pending(): number {
    return this.#length + (this.#state === "body" ? this.#headLength : 0);
  }

  push(chunk: Buffer): FramerPush<M, E> {
    if (this.#error !== undefined) return { items: [], error: this.#error };
    const items: M[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#state === "between") {
        while (off < chunk.length && (chunk[off] === 0x0d || chunk[off] === 0x0a)) off++;
        if (off === chunk.length) break;
        this.#state = "head";
        this.#lineLen = 0;
        this.#lastByte = -1;
      }
      if (this.#state === "head") {
        const end = this.#scanHead(chunk, off);
        if (end === undefined) return this.#fail(items, this.#tooLarge());
        this.#keep(chunk.subarray(off, end < 0 ? chunk.length : end));
        if (end < 0) break;
        off = end;
        const head = this.#take();
        const r = this.#onHead(head);
        if ("error" in r) return this.#fail(items, r.error);
        if ("done" in r) {
          items.push(r.done);
          this.#state = "between";
          continue;
        }
        this.#state = "body";
        this.#need = r.body;
        this.#onBody = r.onBody;
        this.#headLength = head.length;
      } else {
        const take = Math.min(this.#need, chunk.length - off);
        this.#keep(chunk.subarray(off, off + take));
        this.#need -= take;
        off += take;
      }
      if (this.#state === "body" && this.#need === 0) {
        const onBody = this.#onBody;
        this.#onBody = undefined;
        this.#state = "between";
        const r = onBody ? onBody(this.#take()) : undefined;
        if (r === undefined) continue;
        if ("error" in r) return this.#fail(items, r.error);
        items.push(r.done);
      }
    }
    return { items };
  }

  /**
   * Looks for the empty line in chunk[off...]: the offset just after it, -1 when the chunk
   * ends first, or undefined once the header section passes its limit. Only bytes up to the
   * limit are looked at.
   */
  #scanHead(chunk: Buffer, off: number): number | undefined {
    const room = this.#maxHead - this.#length;
    const stop = Math.min(chunk.length, off + room);
    let pos = off;
    while (pos < stop) {
      const found = chunk.indexOf(0x0a, pos);
      const nl = found >= stop ? -1 : found;
      const upTo = nl < 0 ? stop : nl;
      if (upTo > pos) {
        this.#lineLen += upTo - pos;
        this.#lastByte = chunk[upTo - 1] ?? -1;
      }
      if (nl < 0) break;
      if (this.#lineLen === 0 || (this.#lineLen === 1 && this.#lastByte === 0x0d)) return nl + 1;
      this.#lineLen = 0;
      this.#lastByte = -1;
      pos = nl + 1;
    }
    return chunk.length - off > room ? undefined : -1;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  /** The bytes kept, joined once; the framer holds none after. */
  #take(): Buffer {
    const all =
      this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    return all;
  }

  #fail(items: M[], error: E): FramerPush<M, E> {
    this.#error = error;
    this.#parts = [];
    this.#length = 0;
    this.#onBody = undefined;
    return { items, error };
  }
}
