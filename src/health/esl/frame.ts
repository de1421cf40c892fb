/**
 * FreeSWITCH event socket (ESL) framing, pure and incremental. A frame is header lines
 * `Name: value` each ended by LF, an empty line, then a body of Content-Length bytes when
 * that header is present (reference: docs sip.md, "FreeSWITCH event socket (ESL), inbound").
 * FreeSWITCH writes bare LF; a CR before the LF is dropped so a hand-typed peer still works.
 */

export interface EslLimits {
  /** Bytes of one frame's header section, its empty line included. */
  readonly maxHeaderBytes: number;
  /** Bytes of one frame's body (its Content-Length). */
  readonly maxBodyBytes: number;
}

/** 16 KiB of headers and 1 MiB of body: a HEARTBEAT is about 2 KiB in all, so far above need. */
export const ESL_LIMITS: EslLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1024 * 1024 };

export interface EslFrame {
  /** Names as FreeSWITCH spells them (it always spells them the same); a repeated name: the last wins. */
  readonly headers: ReadonlyMap<string, string>;
  /** Present only when the frame had a Content-Length (possibly 0). */
  readonly body?: Buffer;
}

export type EslFrameErrorCode =
  | "header_section_too_large"
  | "body_too_large"
  | "bad_header_line"
  | "bad_content_length";

export interface EslFrameError {
  readonly code: EslFrameErrorCode;
  readonly message: string;
}

export interface EslReadResult {
  /** The frames these bytes completed, in order. */
  readonly frames: readonly EslFrame[];
  /** Set once the stream cannot be read any further; every later push repeats it. */
  readonly error?: EslFrameError;
}

/**
 * Cuts the byte stream from FreeSWITCH into frames. The outcome depends only on the bytes,
 * not on how the socket split them: each header byte is scanned once and a frame's bytes are
 * joined once, when complete, so a peer trickling bytes costs linear work. Empty lines where
 * a frame would start are skipped (a frame with no header says nothing). After an error the
 * framing of what follows cannot be trusted: the reader stops, and the caller should close.
 */
export class EslFrameReader {
  readonly #limits: EslLimits;
  #state: "between" | "head" | "body" = "between";
  #parts: Buffer[] = [];
  #length = 0;
  /** The current header line: its length and last byte (a lone CR line is an empty line). */
  #lineLen = 0;
  #lastByte = -1;
  #headers: Map<string, string> | undefined;
  #need = 0;
  #error: EslFrameError | undefined;

  constructor(limits: Partial<EslLimits> = {}) {
    this.#limits = { ...ESL_LIMITS, ...limits };
  }

  push(chunk: Buffer): EslReadResult {
    if (this.#error) return { frames: [], error: this.#error };
    const frames: EslFrame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#state === "between") {
        while (off < chunk.length && (chunk[off] === 0x0a || chunk[off] === 0x0d)) off++;
        if (off === chunk.length) break;
        this.#state = "head";
        this.#lineLen = 0;
        this.#lastByte = -1;
      }
      if (this.#state === "head") {
        const end = this.#scanHead(chunk, off);
        if (typeof end === "object") return this.#fail(frames, end);
        this.#keep(chunk.subarray(off, end < 0 ? chunk.length : end));
        if (end < 0) break;
        off = end;
        const headDone = this.#endHead();
        if ("code" in headDone) return this.#fail(frames, headDone);
        if (headDone.frame) {
          frames.push(headDone.frame);
          continue;
        }
      }
      const take = Math.min(this.#need, chunk.length - off);
      this.#keep(chunk.subarray(off, off + take));
      this.#need -= take;
      off += take;
      if (this.#need === 0) frames.push(this.#endBody());
    }
    return { frames };
  }

  /** Bytes of an unfinished frame held (0 between frames). */
  get pending(): number {
    return this.#length;
  }

  /**
   * Looks for the empty line in chunk[off...]: the offset just after it, -1 when the chunk
   * ends first, or an error once the header section passes its limit. Only bytes up to the
   * limit are looked at.
   */
  #scanHead(chunk: Buffer, off: number): number | EslFrameError {
    const room = this.#limits.maxHeaderBytes - this.#length;
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
    if (chunk.length - off > room)
      return {
        code: "header_section_too_large",
        message: `frame headers are longer than ${this.#limits.maxHeaderBytes} bytes`,
      };
    return -1;
  }

  /** The header section is complete: a frame without a body, or the body to wait for. */
  #endHead(): { frame?: EslFrame } | EslFrameError {
    const text = Buffer.concat(this.#parts, this.#length).toString("utf8");
    this.#parts = [];
    this.#length = 0;
    const headers = new Map<string, string>();
    for (const raw of text.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0)
        return {
          code: "bad_header_line",
          message: `not a "Name: value" line: ${JSON.stringify(line.slice(0, 80))}`,
        };
      headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const cl = headers.get("Content-Length");
    if (cl === undefined) {
      this.#state = "between";
      return { frame: { headers } };
    }
    if (!/^\d{1,10}$/.test(cl))
      return { code: "bad_content_length", message: `Content-Length ${JSON.stringify(cl.slice(0, 40))}` };
    const n = Number(cl);
    if (n > this.#limits.maxBodyBytes)
      return {
        code: "body_too_large",
        message: `a ${n}-byte body is over the ${this.#limits.maxBodyBytes}-byte limit`,
      };
    this.#state = "body";
    this.#need = n;
    this.#headers = headers;
    return {};
  }

  #endBody(): EslFrame {
    const frame = {
      headers: this.#headers ?? new Map<string, string>(),
      body: Buffer.concat(this.#parts, this.#length),
    };
    this.#parts = [];
    this.#length = 0;
    this.#headers = undefined;
    this.#state = "between";
    return frame;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  #fail(frames: EslFrame[], error: EslFrameError): EslReadResult {
    this.#error = error;
    this.#parts = [];
    this.#length = 0;
    this.#headers = undefined;
    return { frames, error };
  }
}

/** URL-decodes as FreeSWITCH encodes (`%XX`, spaces as %20); a bad escape keeps the raw text. */
export function decodeEslValue(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The headers of a `text/event-plain` body: `Key: url-encoded-value` lines, values decoded.
 * Stops at the first empty line: what follows is the event's own body (some CUSTOM events
 * carry one), which is not a header. Lines without a colon are skipped: an event we cannot
 * fully read is still an event.
 */
export function parseEventPlain(body: Buffer | string): Map<string, string> {
  const text = typeof body === "string" ? body : body.toString("utf8");
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    out.set(line.slice(0, colon).trim(), decodeEslValue(line.slice(colon + 1).trim()));
  }
  return out;
}
