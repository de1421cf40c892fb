/**
 * Cuts a TCP or TLS byte stream into SIP messages (RFC 3261 §18.3: Content-Length is
 * mandatory on a stream and says where a message ends). CRLFs between messages are
 * keep-alives (RFC 5626 §3.5.1 `\r\n\r\n` pings) and are skipped. The byte-level framing
 * is net/head-body-framer.ts, shared with FreeSWITCH's event socket.
 */

import { HeadBodyFramer } from "../../net/head-body-framer.ts";
import { contentLength, parseHead, parseMessage } from "./message.ts";
import { SIP_LIMITS, type SipError, type SipLimits, type SipMessage } from "./types.ts";

export interface FramerResult {
  /** The messages these bytes completed, in order. */
  readonly messages: readonly SipMessage[];
  /** Set once the stream cannot be read any further; every later push repeats it. */
  readonly error?: SipError;
}

/**
 * The outcome is a function of the byte stream, not of how it was split into chunks, and
 * costs linear work (HeadBodyFramer).
 * - header_section_too_large: the empty line ending the headers is not within the first
 *   maxMessageBytes bytes of the message.
 * - missing_content_length, bad_content_length: the headers do not say where the body ends.
 * - body_too_large: headers and body would be more than maxMessageBytes.
 * - any parseMessage code: the complete message is not SIP. On a stream that is the end of
 *   it: the framing of what follows cannot be trusted.
 */
export class SipStreamFramer {
  readonly #framer: HeadBodyFramer<SipMessage, SipError>;

  constructor(limits: Partial<SipLimits> = {}) {
    const all: SipLimits = { ...SIP_LIMITS, ...limits };
    const max = all.maxMessageBytes;
    this.#framer = new HeadBodyFramer<SipMessage, SipError>(
      max,
      () => ({ code: "header_section_too_large", message: `headers are longer than ${max} bytes` }),
      (head) => {
        const parsed = parseHead(head.toString("latin1"), all);
        if (!parsed.ok) return { error: parsed.error };
        const length = contentLength(parsed.head.headers);
        if (typeof length === "object") return { error: length };
        if (length === undefined)
          return {
            error: { code: "missing_content_length", message: "no Content-Length on a stream transport" },
          };
        if (head.length + length > max)
          return {
            error: {
              code: "body_too_large",
              message: `a ${length}-byte body makes the message longer than ${max} bytes`,
            },
          };
        return {
          body: length,
          onBody: (body) => {
            const parsed = parseMessage(Buffer.concat([head, body]), { stream: true, limits: all });
            return parsed.ok ? { done: parsed.message } : { error: parsed.error };
          },
        };
      },
    );
  }

  push(chunk: Buffer): FramerResult {
    const r = this.#framer.push(chunk);
    return r.error === undefined ? { messages: r.items } : { messages: r.items, error: r.error };
  }

  /** Bytes of an unfinished message held (0 between messages). */
  get pending(): number {
    return this.#framer.pending;
  }
}

/** A message's size as written: start line, headers, empty line, body. */
export function estimateSize(m: SipMessage): number {
  let n = m.kind === "request" ? m.method.length + m.uri.length + 11 : m.reason.length + 14;
  for (const h of m.headers) n += h.rawName.length + h.value.length + 4;
  return n + 2 + m.body.length;
}
