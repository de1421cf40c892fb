/**
 * HTTP/1.x request and response heads, parsed pure over bytes (RFC 9112 §2–§7). Strict where
 * leniency lets two parties frame one message differently (request smuggling): CRLF line ends
 * only, no obs-fold, no space before a colon, never both Transfer-Encoding and Content-Length,
 * one Content-Length value, chunked last. A head is whole once its empty line has arrived. The
 * fields stay bytes (fields.ts): only those that frame or route the message become strings.
 */

import {
  absoluteForm,
  CHUNKED,
  CLOSE,
  type Facts,
  type Framing,
  facts,
  type HeadError,
  headError,
  NO_BODY,
} from "./facts.ts";

export { errorAnswer, type Framing, type HeadError, NO_BODY } from "./facts.ts";

import { fieldPairs, TCHAR } from "./fields.ts";
import { bytesAre, headEnd, lines, methodOf } from "./head-lines.ts";

export { EMPTY_LINE, MAX_FIELDS } from "./head-lines.ts";

/** A head's bytes and its fields as scanned (fields.ts): what the rewriting reads. */
export class Head {
  /** The bytes the head was read from (a read buffer: the head is `bytes[start, end)`, the rest is not its own). */
  readonly bytes: Buffer;
  /** Where its start line begins and where its empty line ends, in `bytes`. */
  readonly start: number;
  readonly end: number;
  /** Its fields, STRIDE numbers each, offsets into `bytes`. */
  readonly at: readonly number[];
  /** Field names that Connection lists beyond close, keep-alive and upgrade (lower case). */
  readonly named: readonly string[] | undefined;
  #raw: string[] | undefined;

  constructor(
    bytes: Buffer,
    start: number,
    end: number,
    at: readonly number[],
    named: readonly string[] | undefined,
  ) {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    this.at = at;
    this.named = named;
  }

  /** Where the start line ends (its CR): before the first field's line, or before the empty line. */
  get lineEnd(): number {
    return (this.at.length > 0 ? (this.at[0] as number) : this.end - 2) - 2;
  }

  /** Every field as name, value pairs: names as sent, values without the whitespace around them. */
  get raw(): string[] {
    this.#raw ??= fieldPairs(this.bytes, this.at);
    return this.#raw;
  }
}

export class RequestHead extends Head {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and a later 1.x, read as 1.1). */
  readonly minor: 0 | 1;
  /** The target's authority for an absolute-form target (the Host field is then ignored, RFC 9112 §3.2.2). */
  readonly host: string | undefined;
  /** The target came in absolute-form: `target` is its origin-form path, `host` its authority. */
  readonly absolute: boolean;
  readonly framing: Framing;
  /** Transfer codings applied before the final chunked ("gzip, "), passed on with it: "" mostly. */
  readonly codings: string;
  /** The client wants the connection kept after this exchange. */
  readonly keepAlive: boolean;
  /** Connection: upgrade with an Upgrade field (a WebSocket handshake, RFC 9110 §7.8). */
  readonly upgrade: boolean;
  readonly expectContinue: boolean;
  /** Bytes of the head, its empty line (and any empty lines before it) included. */
  readonly size: number;

  constructor(
    bytes: Buffer,
    start: number,
    end: number,
    at: readonly number[],
    f: Facts,
    method: string,
    target: string,
    minor: 0 | 1,
    size: number,
    authority?: string,
  ) {
    super(bytes, start, end, at, f.named);
    this.method = method;
    this.target = target;
    this.minor = minor;
    this.host = authority ?? f.host;
    this.absolute = authority !== undefined;
    this.framing = f.framing ?? NO_BODY;
    this.codings = f.codings;
    this.keepAlive = minor === 1 ? !f.close : f.keepAlive && !f.close;
    // An HTTP/1.0 request's Upgrade and Expect are ignored (RFC 9110 §7.8, §10.1.1).
    this.upgrade = minor === 1 && f.upgradeToken && f.upgrade;
    this.expectContinue = minor === 1 && f.expectContinue;
    this.size = size;
  }
}

export class ResponseHead extends Head {
  readonly status: number;
  readonly minor: 0 | 1;
  readonly framing: Framing;
  readonly codings: string; // applied before the final chunked ("gzip, "), named to the client
  /** The server keeps the connection for another request. */
  readonly keepAlive: boolean;
  readonly size: number;

  constructor(
    bytes: Buffer,
    start: number,
    end: number,
    at: readonly number[],
    f: Facts,
    status: number,
    minor: 0 | 1,
    bodiless: boolean,
    size: number,
  ) {
    super(bytes, start, end, at, f.named);
    const framing = bodiless ? NO_BODY : f.teNotChunked ? CLOSE : (f.framing ?? CLOSE);
    this.status = status;
    this.minor = minor;
    this.framing = framing;
    this.codings = framing.kind === "chunked" ? f.codings : ""; // 1.0 clients get it de-chunked
    // Transfer-Encoding in an HTTP/1.0 answer: faulty framing, the connection is not reused (RFC 9112 §6.1).
    this.keepAlive =
      framing !== CLOSE &&
      (minor === 1
        ? !f.close
        : f.keepAlive && !f.close && (bodiless || (f.framing !== CHUNKED && !f.teNotChunked)));
    this.size = size;
  }

  /** The reason phrase ("" when none): read from the bytes when asked, as the proxy never needs it. */
  get reason(): string {
    const line = this.lineEnd;
    return line > this.start + 12 ? this.bytes.toString("latin1", this.start + 13, line) : "";
  }
}

/** A head not yet whole: `undefined`. */
export type HeadResult<T> = T | HeadError | undefined;

export function isHeadError<T extends object>(r: T | HeadError): r is HeadError {
  return "error" in r;
}

const err = headError;

/** Two bare LFs: a head that ends so will never end with CRLF CRLF (and is refused at once). */
const LF_LF = Buffer.from("\n\n", "latin1");

/**
 * The request head at `start` of `buf`. `max` bounds the head's bytes, leading empty lines
 * included: past it with no empty line, 431. Leading empty lines before a request line are
 * skipped (RFC 9112 §2.2).
 */
export function parseRequestHead(buf: Buffer, start: number, max: number): HeadResult<RequestHead> {
  let s = start;
  while (s + 1 < buf.length && buf[s] === 0x0d && buf[s + 1] === 0x0a && s - start < max) s += 2;
  const end = headEnd(buf, s);
  if (end < 0) {
    if (buf.length - start > max) return err(431, `request head over ${max} bytes`);
    return buf.indexOf(LF_LF, s) >= 0 ? err(400, "a bare LF in the head") : undefined;
  }
  if (end - start > max) return err(431, `request head over ${max} bytes`);
  const l = lines(buf, s, end);
  if (isHeadError(l)) return l;
  let sp1 = s;
  while (TCHAR[buf[sp1] as number] === 1) sp1++;
  if (sp1 === s || buf[sp1] !== 0x20) return err(400, buf[sp1] === 0x20 ? "bad method" : "bad request line");
  const sp2 = buf.indexOf(0x20, sp1 + 1);
  if (sp2 < 0 || sp2 >= l.line || sp2 === sp1 + 1) return err(400, "bad request line");
  for (let i = sp1 + 1; i < sp2; i++) if (buf[i] === 0x09) return err(400, "bad request target");
  // "HTTP/d.d" to the line's end.
  const v = sp2 + 1;
  if (
    l.line !== v + 8 ||
    !bytesAre(buf, v, "HTTP/") ||
    !isDigit(buf[v + 5]) ||
    buf[v + 6] !== 0x2e ||
    !isDigit(buf[v + 7])
  )
    return err(
      400,
      buf.indexOf(0x20, v) >= 0 && buf.indexOf(0x20, v) < l.line ? "bad request line" : "bad HTTP version",
    );
  if (buf[v + 5] !== 0x31) return err(505, `${buf.toString("latin1", v, v + 8)} is not supported`);
  const minor = buf[v + 7] === 0x30 ? 0 : 1;
  const method = methodOf(buf, s, sp1);
  const f = facts(buf, l.at);
  if (isHeadError(f)) return f;
  // RFC 9112 §6.3 (4): no final chunked, no end to the body; §6.1: an unknown coding is 501.
  if (f.teNotChunked) return err(400, "the final transfer coding is not chunked");
  if (f.codingUnknown) return err(501, "an unknown transfer coding");
  if (f.framing?.kind === "chunked" && minor === 0)
    return err(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (f.hosts > 1) return err(400, "two Host headers");
  if (minor === 1 && f.hosts === 0) return err(400, "no Host header");
  if (method === "CONNECT") return err(501, "CONNECT is not supported");
  const target = sp2 === sp1 + 2 && buf[sp1 + 1] === 0x2f ? "/" : buf.toString("latin1", sp1 + 1, sp2);
  const absolute = buf[sp1 + 1] !== 0x2f && /^https?:\/\//i.test(target);
  const abs = absolute ? absoluteForm(target) : undefined;
  if (absolute && abs === undefined) return err(400, "bad authority in the target");
  return new RequestHead(
    buf,
    s,
    end,
    l.at,
    f,
    method,
    abs?.path ?? target,
    minor,
    end - start,
    abs?.authority,
  );
}

/**
 * The response head at `start` of `buf`, for a request of `method`. The body's framing
 * follows RFC 9112 §6.3: none for HEAD, 1xx, 204 and 304; else chunked, a length, or until
 * the connection closes.
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  max: number,
  method: string,
): HeadResult<ResponseHead> {
  const end = headEnd(buf, start);
  if (end < 0) {
    if (buf.length - start > max) return err(431, `response head over ${max} bytes`);
    return buf.indexOf(LF_LF, start) >= 0 ? err(400, "a bare LF in the head") : undefined;
  }
  if (end - start > max) return err(431, `response head over ${max} bytes`);
  const l = lines(buf, start, end);
  if (isHeadError(l)) return l;
  // "HTTP/1.x NNN" then " reason" or nothing.
  const d = start + 9;
  if (
    !bytesAre(buf, start, "HTTP/1.") ||
    !isDigit(buf[start + 7]) ||
    buf[start + 8] !== 0x20 ||
    !isDigit(buf[d]) ||
    !isDigit(buf[d + 1]) ||
    !isDigit(buf[d + 2]) ||
    (d + 3 !== l.line && buf[d + 3] !== 0x20)
  )
    return err(400, "bad status line");
  const status =
    ((buf[d] as number) - 48) * 100 + ((buf[d + 1] as number) - 48) * 10 + ((buf[d + 2] as number) - 48);
  if (status < 100) return err(400, "bad status line");
  const minor = buf[start + 7] === 0x30 ? 0 : 1;
  const f = facts(buf, l.at);
  if (isHeadError(f)) return f;
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
  return new ResponseHead(buf, start, end, l.at, f, status, minor, bodiless, end - start);
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}
