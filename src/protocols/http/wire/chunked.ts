/**
 * A chunked body (RFC 9112 §7.1) followed byte by byte, pure: the proxy passes the bytes on as
 * they are, and this says where the body ends and which bytes are data (for a peer that
 * cannot take chunked, the data alone). Sizes are hex of at most 15 digits; extensions and
 * trailers are bounded; anything else is an error, never a guess.
 */

/** Where the scanner is. */
const S = {
  Size: 0,
  SizeExt: 1,
  SizeWs: 11,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  TrailerStart: 6,
  Trailer: 7,
  TrailerLf: 8,
  EndLf: 9,
  Done: 10,
} as const;

/** What one feed found: bytes used (the rest belongs to the next message), data spans, the end. */
export interface ChunkStep {
  /** Bytes of `buf` from `start` that belong to this body. */
  readonly used: number;
  readonly done: boolean;
  /** An error (then nothing of `buf` is trusted). */
  readonly error: string | undefined;
}

export class ChunkedScanner {
  #s: number = S.Size;
  #size = 0;
  #digits = 0;
  #left = 0;
  #ext = 0;
  #trailer = 0;
  #trailerAt = -1;
  readonly #maxLine: number;

  /** `maxLine`: bytes of a chunk extension and of the trailer section, at most. */
  constructor(maxLine = 16 * 1024) {
    this.#maxLine = maxLine;
  }

  get done(): boolean {
    return this.#s === S.Done;
  }

  /** Where in the last feed's buffer the trailer section began (after the last chunk's line), or -1. */
  get trailerAt(): number {
    return this.#trailerAt;
  }

  /**
   * Reads `buf` from `start`; `onData(from, to)` gets each span of data bytes (absolute
   * indices in `buf`), in order.
   */
  feed(buf: Buffer, start: number, onData?: (from: number, to: number) => void): ChunkStep {
    let i = start;
    this.#trailerAt = -1;
    const n = buf.length;
    while (i < n) {
      const c = buf[i] as number;
      switch (this.#s) {
        case S.Size: {
          const d = hex(c);
          if (d >= 0) {
            if (++this.#digits > 13) return fail(i - start, "chunk size over 13 hex digits");
            this.#size = this.#size * 16 + d;
            i++;
            break;
          }
          if (this.#digits === 0) return fail(i - start, "no chunk size");
          if (c === 0x0d) this.#s = S.SizeLf;
          else if (c === 0x3b) this.#s = S.SizeExt;
          else if (c === 0x20 || c === 0x09) this.#s = S.SizeWs;
          else return fail(i - start, "bad byte after the chunk size");
          i++;
          break;
        }
        case S.SizeWs:
          // Whitespace after the size only before an extension's ";" (RFC 9112 §7.1.1 BWS).
          if (c === 0x3b) this.#s = S.SizeExt;
          else if ((c !== 0x20 && c !== 0x09) || ++this.#ext > this.#maxLine)
            return fail(i - start, "bad byte after the chunk size");
          i++;
          break;
        case S.SizeExt:
          if (c === 0x0d) this.#s = S.SizeLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f || ++this.#ext > this.#maxLine)
            return fail(i - start, "bad chunk extension");
          i++;
          break;
        case S.SizeLf:
          if (c !== 0x0a) return fail(i - start, "no LF after the chunk size");
          i++;
          if (this.#size === 0) {
            this.#s = S.TrailerStart;
            this.#trailerAt = i;
          } else {
            this.#left = this.#size;
            this.#s = S.Data;
          }
          break;
        case S.Data: {
          const take = Math.min(this.#left, n - i);
          onData?.(i, i + take);
          this.#left -= take;
          i += take;
          if (this.#left === 0) this.#s = S.DataCr;
          break;
        }
        case S.DataCr:
          if (c !== 0x0d) return fail(i - start, "no CRLF after chunk data");
          this.#s = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (c !== 0x0a) return fail(i - start, "no CRLF after chunk data");
          this.#s = S.Size;
          this.#size = 0;
          this.#digits = 0;
          this.#ext = 0;
          i++;
          break;
        case S.TrailerStart:
          if (c === 0x0d) this.#s = S.EndLf;
          else {
            if (c === 0x0a || c === 0x20 || c === 0x09) return fail(i - start, "bad trailer line");
            this.#s = S.Trailer;
            if (++this.#trailer > this.#maxLine) return fail(i - start, "trailer section too long");
          }
          i++;
          break;
        case S.Trailer:
          if (c === 0x0d) this.#s = S.TrailerLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f || ++this.#trailer > this.#maxLine)
            return fail(i - start, "bad trailer line");
          i++;
          break;
        case S.TrailerLf:
          if (c !== 0x0a) return fail(i - start, "no LF after a trailer line");
          this.#s = S.TrailerStart;
          i++;
          break;
        case S.EndLf:
          if (c !== 0x0a) return fail(i - start, "no LF after the last chunk");
          this.#s = S.Done;
          return { used: i + 1 - start, done: true, error: undefined };
        case S.Done:
          return { used: i - start, done: true, error: undefined };
      }
    }
    return { used: i - start, done: this.#s === S.Done, error: undefined };
  }
}

function fail(used: number, error: string): ChunkStep {
  return { used, done: false, error };
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
