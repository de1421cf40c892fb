/**
 * Cuts a TCP or TLS byte stream into SIP messages (RFC 3261 §18.3: Content-Length is
 * mandatory on a stream and says where a message ends). CRLFs between messages are
 * keep-alives (RFC 5626 §3.5.1 `\r\n\r\n` pings) and are skipped.
 */

import { contentLength, parseHead, parseMessage } from "./message.ts";
import { SIP_LIMITS, type SipError, type SipLimits, type SipMessage } from "./types.ts";

export interface FramerResult {
  /** The messages these bytes completed, in order. */
  readonly messages: readonly SipMessage[];
  /** Set once the stream cannot be read any further; every later push repeats it. */
  readonly error?: SipError;
}

/**
 * The outcome is a function of the byte stream, not of how it was split into chunks: each
 * byte is looked at once (the header section's bytes to find its end, the body's not at all),
 * and a message's bytes are joined once, when it is complete. So a peer that trickles bytes
 * costs linear work.
 * - header_section_too_large: the empty line ending the headers is not within the first
 *   maxMessageBytes bytes of the message.
 * - missing_content_length, bad_content_length: the headers do not say where the body ends.
 * - body_too_large: headers and body would be more than maxMessageBytes.
 * - any parseMessage code: the complete message is not SIP. On a stream that is the end of
 *   it: the framing of what follows cannot be trusted.
 */
export class SipStreamFramer {
  readonly #limits: SipLimits;
  #state: "between" | "head" | "body" = "between";
  /** Bytes of the current message received so far. */
  #parts: Buffer[] = [];
  #length = 0;
  /** The current header line: its length and last byte (a lone `\r` line is an empty line). */
  #lineLen = 0;
  #lastByte = -1;
  /** Body bytes still to come. */
  #need = 0;
  #error: SipError | undefined;

  constructor(limits: Partial<SipLimits> = {}) {
    this.#limits = { ...SIP_LIMITS, ...limits };
  }

  push(chunk: Buffer): FramerResult {
    if (this.#error) return { messages: [], error: this.#error };
    const messages: SipMessage[] = [];
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
        if (typeof end === "object") return this.#fail(messages, end);
        this.#keep(chunk.subarray(off, end < 0 ? chunk.length : end));
        if (end < 0) break;
        off = end;
        const started = this.#startBody();
        if (started) return this.#fail(messages, started);
      } else {
        const take = Math.min(this.#need, chunk.length - off);
        this.#keep(chunk.subarray(off, off + take));
        this.#need -= take;
        off += take;
      }
      if (this.#state === "body" && this.#need === 0) {
        const done = this.#finish();
        if ("code" in done) return this.#fail(messages, done);
        messages.push(done);
      }
    }
    return { messages };
  }

  /**
   * Looks for the empty line in chunk[off...]: the offset just after it, -1 when the chunk
   * ends first, or header_section_too_large once the message's bytes pass the limit without
   * one. Only bytes up to the limit are looked at.
   */
  #scanHead(chunk: Buffer, off: number): number | SipError {
    const room = this.#limits.maxMessageBytes - this.#length;
    const stop = Math.min(chunk.length, off + room);
    const view = stop === chunk.length ? chunk : chunk.subarray(0, stop);
    let pos = off;
    while (pos < stop) {
      const nl = view.indexOf(0x0a, pos);
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
        message: `headers are longer than ${this.#limits.maxMessageBytes} bytes`,
      };
    return -1;
  }

  /** The headers are complete: read Content-Length, and wait for that many body bytes. */
  #startBody(): SipError | undefined {
    const head = Buffer.concat(this.#parts, this.#length);
    this.#parts = [head];
    const parsed = parseHead(head.toString("latin1"), this.#limits);
    if (!parsed.ok) return parsed.error;
    const length = contentLength(parsed.head.headers);
    if (typeof length === "object") return length;
    if (length === undefined)
      return { code: "missing_content_length", message: "no Content-Length on a stream transport" };
    if (this.#length + length > this.#limits.maxMessageBytes)
      return {
        code: "body_too_large",
        message: `a ${length}-byte body makes the message longer than ${this.#limits.maxMessageBytes} bytes`,
      };
    this.#state = "body";
    this.#need = length;
    return undefined;
  }

  #finish(): SipMessage | SipError {
    const bytes = Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    this.#state = "between";
    const parsed = parseMessage(bytes, { stream: true, limits: this.#limits });
    return parsed.ok ? parsed.message : parsed.error;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  #fail(messages: SipMessage[], error: SipError): FramerResult {
    this.#error = error;
    this.#parts = [];
    this.#length = 0;
    return { messages, error };
  }

  /** Bytes of an unfinished message held (0 between messages). */
  get pending(): number {
    return this.#length;
  }
}
