/**
 * The FastAGI session header as Asterisk writes it (res_agi.c, setup_env()): one
 * `name: value` line per variable, ending in `\n`, closed by an empty line. Pure functions
 * over bytes. Values are kept as bytes: a UTF-8 caller name must reach the server unchanged.
 */

import { decodeHeaderText } from "./header-text.ts";

export interface HeaderLimits {
  /** Bytes of the header, its closing empty line included. */
  readonly maxBytes: number;
  /** Non-empty lines (variables) of the header. */
  readonly maxLines: number;
}

export const HEADER_LIMITS: HeaderLimits = Object.freeze({ maxBytes: 64 * 1024, maxLines: 256 });

export interface HeaderLine {
  /** Variable name, ASCII. */
  readonly name: string;
  /** Value as text (UTF-8 decoded), without the line ending. */
  readonly value: string;
  /** Byte offsets in the header: the line, its value, and the end after its line ending. */
  readonly start: number;
  readonly valueStart: number;
  readonly valueEnd: number;
  readonly end: number;
}

export interface AgiHeader {
  /** The header bytes exactly as received, the closing empty line included. */
  readonly raw: Buffer;
  readonly lines: readonly HeaderLine[];
  /** Variables by name, as text (each name appears once: parseHeader rejects a repeat). */
  readonly vars: ReadonlyMap<string, string>;
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
 *
 * The outcome is defined on the byte stream, not on how it was split into reads: a limit
 * counts as crossed at the byte that crosses it, and the first one crossed decides.
 * - too_long: byte maxBytes+1 arrives before the header is complete, unless that very
 *   byte is the line end of the (maxLines+1)-th line (then too_many_lines, below). The
 *   closing empty line must fit too: a header is at most maxBytes bytes.
 * - too_many_lines: the (maxLines+1)-th non-empty line is complete (its `\n` arrives)
 *   within the first maxBytes+1 bytes.
 * Bytes after the empty line are not counted: an early HANGUP behind a 64 KiB header is
 * not a reason to refuse it.
 */
export class HeaderReader {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #lines = 0;
  /** Bytes of the current, unterminated line and its last byte (to spot a lone `\r`). */
  #lineLen = 0;
  #lastByte = -1;
  /** Once refused, always refused: a later read cannot change the answer. */
  #error: HeaderError | undefined;
  readonly #max: HeaderLimits;

  /** `limits` other than HEADER_LIMITS are for tests that explore the edges with small numbers. */
  constructor(limits: HeaderLimits = HEADER_LIMITS) {
    this.#max = limits;
  }

  /**
   * Scans only the new chunk and concatenates once, when the header is complete: a peer
   * that trickles its header a byte at a time costs linear, not quadratic, work.
   */
  push(
    chunk: Buffer,
  ): { done: false } | { done: true; header: Buffer; rest: Buffer } | { done: false; error: HeaderError } {
    if (this.#error) return { done: false, error: this.#error };
    const base = this.#length;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    // Only bytes up to stream position maxBytes+1 can decide anything: by then either a
    // line limit or the byte limit has been crossed. Later bytes of the chunk are not
    // looked at, so a large read cannot push the line count past a byte limit it crossed
    // first (subarray is a view, not a copy).
    const { maxBytes, maxLines } = this.#max;
    const scan = base + chunk.length > maxBytes + 1 ? maxBytes + 1 - base : chunk.length;
    const view = scan === chunk.length ? chunk : chunk.subarray(0, scan);
    let pos = 0;
    for (;;) {
      const nl = view.indexOf(0x0a, pos);
      if (nl < 0) {
        if (scan > pos) {
          this.#lineLen += scan - pos;
          this.#lastByte = view[scan - 1] as number;
        }
        break;
      }
      if (nl > pos) {
        this.#lineLen += nl - pos;
        this.#lastByte = view[nl - 1] as number;
      }
      const empty = this.#lineLen === 0 || (this.#lineLen === 1 && this.#lastByte === 0x0d);
      const end = base + nl + 1;
      if (empty) {
        if (end > maxBytes) return this.#fail(tooLong(maxBytes));
        const all = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#length);
        return { done: true, header: all.subarray(0, end), rest: all.subarray(end) };
      }
      this.#lines++;
      if (this.#lines > maxLines) {
        return this.#fail({ code: "too_many_lines", message: `header has more than ${maxLines} lines` });
      }
      this.#lineLen = 0;
      this.#lastByte = -1;
      pos = nl + 1;
    }
    if (this.#length > maxBytes) return this.#fail(tooLong(maxBytes));
    return { done: false };
  }

  #fail(error: HeaderError): { done: false; error: HeaderError } {
    this.#error = error;
    // The bytes are not needed any more: a refused peer does not keep 64 KiB alive.
    this.#chunks.length = 0;
    return { done: false, error };
  }

  /** Bytes received so far (for logging a bad peer). */
  get received(): number {
    return this.#length;
  }
}

function tooLong(maxBytes: number): HeaderError {
  return { code: "too_long", message: `header is longer than ${maxBytes} bytes` };
}

const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;
/** Control bytes never appear in Asterisk's header (tab aside; CR only before LF): this is not AGI. */
const CONTROL_RE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/;
const NON_ASCII_RE = /[^\x00-\x7f]/;

/**
 * Parses a complete header (as returned by HeaderReader) and checks it is a FastAGI header.
 * Works on one latin1 view of the bytes (offsets are byte offsets); values are decoded as
 * UTF-8 only when the header holds non-ASCII bytes, losslessly (header-text.ts). Line bytes are sliced only on demand
 * (lineBytes), so an unmodified header is forwarded as the very buffer that arrived; the
 * line records themselves are made only when asked for (a rewrite), not per session.
 */
export function parseHeader(header: Buffer): AgiHeader | HeaderError {
  const text = header.toString("latin1");
  const control = CONTROL_RE.exec(text);
  if (control) {
    const line = text.slice(0, control.index).split("\n").length;
    return { code: "invalid", message: `line ${line} holds control bytes` };
  }
  const utf8 = NON_ASCII_RE.test(text);
  const vars = new Map<string, string>();
  const r = scanLines(header, text, utf8, (name, value, n) => {
    if (vars.has(name)) {
      let first = 0;
      scanLines(header, text, utf8, (other, _v, k) => {
        if (first === 0 && other === name) first = k;
        return undefined;
      });
      return `variable "${name}" appears twice (lines ${first} and ${n})`;
    }
    vars.set(name, value);
    return undefined;
  });
  if (typeof r === "string") return { code: "invalid", message: r };
  const request = vars.get("agi_request");
  if (request === undefined) return { code: "invalid", message: "no agi_request in header" };
  return new ParsedHeader(header, text, utf8, vars, header.subarray(r), request);
}

/** A checked header; its line records are made on first use. */
class ParsedHeader implements AgiHeader {
  readonly raw: Buffer;
  readonly vars: ReadonlyMap<string, string>;
  readonly terminator: Buffer;
  readonly request: string;
  readonly #text: string;
  readonly #utf8: boolean;
  #lines: HeaderLine[] | undefined;

  constructor(
    raw: Buffer,
    text: string,
    utf8: boolean,
    vars: ReadonlyMap<string, string>,
    terminator: Buffer,
    request: string,
  ) {
    this.raw = raw;
    this.#text = text;
    this.#utf8 = utf8;
    this.vars = vars;
    this.terminator = terminator;
    this.request = request;
  }

  get lines(): readonly HeaderLine[] {
    if (this.#lines === undefined) {
      const out: HeaderLine[] = [];
      scanLines(this.raw, this.#text, this.#utf8, (name, value, _n, start, valueStart, valueEnd, end) => {
        out.push({ name, value, start, valueStart, valueEnd, end });
        return undefined;
      });
      this.#lines = out;
    }
    return this.#lines;
  }
}

/**
 * Walks the `name: value` lines of a header; `each` may refuse a line (its message). Returns
 * the offset of the closing empty line, or why the header is not one.
 */
function scanLines(
  header: Buffer,
  text: string,
  utf8: boolean,
  each: (
    name: string,
    value: string,
    lineNumber: number,
    start: number,
    valueStart: number,
    valueEnd: number,
    end: number,
  ) => string | undefined,
): number | string {
  let start = 0;
  let n = 0;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) return "header does not end with an empty line";
    const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (end === start) return nl + 1 !== text.length ? "bytes after the empty line" : start;
    n++;
    const colon = text.indexOf(":", start);
    if (colon < 0 || colon >= end) return `line ${n} is not "name: value"`;
    const name = text.slice(start, colon);
    if (!NAME_RE.test(name)) return `line ${n} has an invalid variable name`;
    let vstart = colon + 1;
    if (text.charCodeAt(vstart) === 0x20) vstart++;
    const value = utf8 ? decodeHeaderText(header, vstart, end) : text.slice(vstart, end);
    // Asterisk writes each variable once (res_agi.c, setup_env()). A repeated name has no
    // single meaning here: routing reads agi_request while a server may read either line,
    // so the header is refused rather than guessed at (the caller's `each` says so).
    const refused = each(name, value, n, start, vstart, end, nl + 1);
    if (refused !== undefined) return refused;
    start = nl + 1;
  }
  return "header does not end with an empty line";
}

/** The bytes of one line as received, its line ending included. */
export function lineBytes(h: AgiHeader, line: HeaderLine): Buffer {
  return h.raw.subarray(line.start, line.end);
}

/** Case-sensitive lookup of a variable's value as text. */
export function headerVar(h: AgiHeader, name: string): string | undefined {
  return h.vars.get(name);
}
