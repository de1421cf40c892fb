/**
 * FreeSWITCH event socket (ESL) framing, pure and incremental. A frame is header lines
 * `Name: value` each ended by LF, an empty line, then a body of Content-Length bytes when
 * that header is present (reference: docs sip.md, "FreeSWITCH event socket (ESL), inbound").
 * FreeSWITCH writes bare LF; a CR before the LF is dropped so a hand-typed peer still works.
 */

import { HeadBodyFramer, type HeadOutcome } from "../../net/head-body-framer.ts";

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
 * not on how the socket split them, and costs linear work: the byte-level framing is
 * net/head-body-framer.ts, shared with SIP over TCP. Empty lines where a frame would start
 * are skipped (a frame with no header says nothing). After an error the framing of what
 * follows cannot be trusted: the reader stops, and the caller should close.
 */
export class EslFrameReader {
  readonly #framer: HeadBodyFramer<EslFrame, EslFrameError>;

  constructor(limits: Partial<EslLimits> = {}) {
    const { maxHeaderBytes, maxBodyBytes } = { ...ESL_LIMITS, ...limits };
    this.#framer = new HeadBodyFramer<EslFrame, EslFrameError>(
      maxHeaderBytes,
      () => ({
        code: "header_section_too_large",
        message: `frame headers are longer than ${maxHeaderBytes} bytes`,
      }),
      (head) => frameHead(head, maxBodyBytes),
    );
  }

  push(chunk: Buffer): EslReadResult {
    const r = this.#framer.push(chunk);
    return r.error === undefined ? { frames: r.items } : { frames: r.items, error: r.error };
  }

  /** Bytes of an unfinished frame held (0 between frames). */
  get pending(): number {
    return this.#framer.pending;
  }
}

/** A complete header section: a frame without a body, or the body to wait for. */
function frameHead(head: Buffer, maxBodyBytes: number): HeadOutcome<EslFrame, EslFrameError> {
  const headers = new Map<string, string>();
  for (const raw of head.toString("utf8").split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0)
      return {
        error: {
          code: "bad_header_line",
          message: `not a "Name: value" line: ${JSON.stringify(line.slice(0, 80))}`,
        },
      };
    headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const cl = headers.get("Content-Length");
  if (cl === undefined) return { done: { headers } };
  if (!/^\d{1,10}$/.test(cl))
    return {
      error: { code: "bad_content_length", message: `Content-Length ${JSON.stringify(cl.slice(0, 40))}` },
    };
  const n = Number(cl);
  if (n > maxBodyBytes)
    return {
      error: { code: "body_too_large", message: `a ${n}-byte body is over the ${maxBodyBytes}-byte limit` },
    };
  return { body: n, onBody: (body) => ({ done: { headers, body } }) };
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
