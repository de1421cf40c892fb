/**
 * The FastAGI session header as Asterisk writes it (res_agi.c, setup_env()): one
 * `name: value` line per variable, ending in `\n`, closed by an empty line. Pure functions
 * over bytes. Values are kept as bytes: a UTF-8 caller name must reach the server unchanged.
 */

export const HEADER_LIMITS = { maxBytes: 64 * 1024, maxLines: 256 } as const;

export interface HeaderLine {
  /** Variable name, ASCII. */
  readonly name: string;
  /** Value bytes, without the line ending. */
  readonly value: Buffer;
  /** The whole line as received, with its line ending (`\n` or `\r\n`). */
  readonly raw: Buffer;
}

export interface AgiHeader {
  readonly lines: readonly HeaderLine[];
  /** The closing empty line as received (`\n` or `\r\n`). */
  readonly terminator: Buffer;
  /** agi_request as text. */
  readonly request: string;
}

export type HeaderError = {
  readonly code: "too_long" | "too_many_lines" | "invalid";
  readonly message: string;
};

/**
 * Accumulates bytes until the header is complete. Bytes after the empty line that came
 * in the same read (an early `HANGUP`) are returned as `rest`, never dropped.
 */
export class HeaderReader {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #lines = 0;
  /** Bytes of the current, unterminated line and its last byte (to spot a lone `\r`). */
  #lineLen = 0;
  #lastByte = -1;

  /**
   * Scans only the new chunk and concatenates once, when the header is complete: a peer
   * that trickles its header a byte at a time costs linear, not quadratic, work.
   */
  push(
    chunk: Buffer,
  ): { done: false } | { done: true; header: Buffer; rest: Buffer } | { done: false; error: HeaderError } {
    const base = this.#length;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl < 0) {
        if (chunk.length > pos) {
          this.#lineLen += chunk.length - pos;
          this.#lastByte = chunk[chunk.length - 1] as number;
        }
        break;
      }
      if (nl > pos) {
        this.#lineLen += nl - pos;
        this.#lastByte = chunk[nl - 1] as number;
      }
      const empty = this.#lineLen === 0 || (this.#lineLen === 1 && this.#lastByte === 0x0d);
      const end = base + nl + 1;
      if (empty) {
        if (end > HEADER_LIMITS.maxBytes) return { done: false, error: tooLong() };
        const all = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#length);
        return { done: true, header: all.subarray(0, end), rest: all.subarray(end) };
      }
      this.#lines++;
      if (this.#lines > HEADER_LIMITS.maxLines) {
        return {
          done: false,
          error: { code: "too_many_lines", message: `header has more than ${HEADER_LIMITS.maxLines} lines` },
        };
      }
      this.#lineLen = 0;
      this.#lastByte = -1;
      pos = nl + 1;
    }
    if (this.#length > HEADER_LIMITS.maxBytes) return { done: false, error: tooLong() };
    return { done: false };
  }

  /** Bytes received so far (for logging a bad peer). */
  get received(): number {
    return this.#length;
  }
}

function tooLong(): HeaderError {
  return { code: "too_long", message: `header is longer than ${HEADER_LIMITS.maxBytes} bytes` };
}

const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;

/** Parses a complete header (as returned by HeaderReader) and checks it is a FastAGI header. */
export function parseHeader(header: Buffer): AgiHeader | HeaderError {
  const lines: HeaderLine[] = [];
  let start = 0;
  let request: string | undefined;
  while (start < header.length) {
    const nl = header.indexOf(0x0a, start);
    if (nl < 0) return { code: "invalid", message: "header does not end with an empty line" };
    const raw = header.subarray(start, nl + 1);
    const end = nl > start && header[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === start) {
      if (nl + 1 !== header.length) return { code: "invalid", message: "bytes after the empty line" };
      if (request === undefined) return { code: "invalid", message: "no agi_request in header" };
      return { lines, terminator: raw, request };
    }
    const colon = header.indexOf(0x3a, start);
    if (colon < 0 || colon >= end)
      return { code: "invalid", message: `line ${lines.length + 1} is not "name: value"` };
    const name = header.toString("latin1", start, colon);
    if (!NAME_RE.test(name))
      return { code: "invalid", message: `line ${lines.length + 1} has an invalid variable name` };
    let vstart = colon + 1;
    if (header[vstart] === 0x20) vstart++;
    const value = header.subarray(vstart, end);
    for (const b of value) {
      // Control bytes (other than tab) never appear in Asterisk's values: this is not AGI.
      if ((b < 0x20 && b !== 0x09) || b === 0x7f) {
        return { code: "invalid", message: `line ${lines.length + 1} (${name}) holds control bytes` };
      }
    }
    if (name === "agi_request") request = value.toString("utf8");
    lines.push({ name, value, raw });
    start = nl + 1;
  }
  return { code: "invalid", message: "header does not end with an empty line" };
}

/** Case-sensitive lookup of a variable's value as UTF-8 text. */
export function headerVar(h: AgiHeader, name: string): string | undefined {
  for (const l of h.lines) if (l.name === name) return l.value.toString("utf8");
  return undefined;
}
