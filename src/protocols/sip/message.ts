/**
 * parseMessage: bytes to a SIP message (RFC 3261 §7), as real peers write them: compact and
 * any-case header names, folded lines (§7.3.1), bare LF line ends, CRLFs before the start
 * line (§7.5). A pure function: bad bytes give an error value with a stable code, never a
 * throw, and every loop is bounded by the input.
 */

import { parseCSeq } from "./fields.ts";
import { CONTROLS, NON_ASCII, scanHead } from "./head-scan.ts";
import { canonicalName, TOKEN_RE } from "./headers.ts";
import {
  SIP_LIMITS,
  type SipError,
  type SipHeader,
  type SipLimits,
  type SipMessage,
  sipError,
} from "./types.ts";

export interface ParseOptions {
  /**
   * A stream transport (TCP, TLS): Content-Length is mandatory. On a datagram a missing one
   * means the body is the rest of the datagram (RFC 3261 §18.3).
   */
  readonly stream: boolean;
  readonly limits?: Partial<SipLimits>;
}

export type ParseResult =
  | { readonly ok: true; readonly message: SipMessage }
  | { readonly ok: false; readonly error: SipError };

/** The start line and headers of a message, and where its body starts. */
export interface SipHead {
  readonly start:
    | { readonly kind: "request"; readonly method: string; readonly uri: string }
    | { readonly kind: "response"; readonly status: number; readonly reason: string };
  readonly headers: readonly SipHeader[];
  readonly bodyStart: number;
}

/** Bytes no SIP header holds (HTAB aside; CR only before LF). */
const CONTROL_RE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/;
const NON_ASCII_RE = /[^\x00-\x7f]/;
const VERSION_RE = /^SIP\/\d+\.\d+$/i;
const DIGITS_RE = /^\d{1,10}$/;
const CALL_ID_RE = /^[^\s@]+(@[^\s@]+)?$/;

export function parseMessage(bytes: Buffer, opts: ParseOptions): ParseResult {
  const limits: SipLimits = opts.limits === undefined ? SIP_LIMITS : { ...SIP_LIMITS, ...opts.limits };
  if (bytes.length > limits.maxMessageBytes)
    return sipError("too_large", `message is ${bytes.length} bytes, more than ${limits.maxMessageBytes}`);
  const head = parseHead(bytes.toString("latin1"), limits);
  if (!head.ok) return head;
  const { start, headers, bodyStart } = head.head;
  // One pass: how many of each header that must be there, or be there once, and their values.
  let via = 0;
  let callIds = 0;
  let cseqs = 0;
  let froms = 0;
  let tos = 0;
  let maxForwards = 0;
  let callId = "";
  let cseqValue = "";
  for (const h of headers) {
    const n = h.name;
    if (n === "via") via++;
    else if (n === "call-id") {
      if (callIds++ === 0) callId = h.value;
    } else if (n === "cseq") {
      if (cseqs++ === 0) cseqValue = h.value;
    } else if (n === "from") froms++;
    else if (n === "to") tos++;
    else if (n === "max-forwards") maxForwards++;
  }
  // Every mandatory header there (the first missing named), then at most one of each that
  // must be single.
  if (via === 0) return sipError("missing_header", "no via header");
  if (callIds === 0) return sipError("missing_header", "no call-id header");
  if (cseqs === 0) return sipError("missing_header", "no cseq header");
  if (froms === 0) return sipError("missing_header", "no from header");
  if (tos === 0) return sipError("missing_header", "no to header");
  // One value each (RFC 3261 §7.3.1, §20): two Call-IDs would let the proxy and the server
  // disagree on which dialog a message belongs to.
  if (callIds > 1) return sipError("duplicate_header", "more than one call-id header");
  if (froms > 1) return sipError("duplicate_header", "more than one from header");
  if (tos > 1) return sipError("duplicate_header", "more than one to header");
  if (maxForwards > 1) return sipError("duplicate_header", "more than one max-forwards header");
  // callid = word ["@" word] (§25.1): never empty, never spaced; more is left to the ends.
  if (!CALL_ID_RE.test(callId))
    return sipError("bad_call_id", "Call-ID is empty, spaced, or has more than one @");
  if (cseqs > 1) return sipError("bad_cseq", "more than one CSeq header");
  const cseq = parseCSeq(cseqValue);
  if (!cseq.ok) return sipError("bad_cseq", `CSeq "${cseqValue}" is not "number method"`);
  // RFC 3261 §8.1.1.5: the CSeq method matches the request's (CANCEL and ACK carry their own).
  if (start.kind === "request" && cseq.cseq.method !== start.method)
    return sipError("bad_cseq", `CSeq method ${cseq.cseq.method} is not the request's ${start.method}`);
  const length = contentLength(headers);
  if (typeof length === "object") return { ok: false, error: length };
  const available = bytes.length - bodyStart;
  let bodyLength = available;
  if (length === undefined) {
    if (opts.stream) return sipError("missing_content_length", "no Content-Length on a stream transport");
  } else if (length > available) {
    return sipError("bad_content_length", `Content-Length ${length} but only ${available} body bytes`);
  } else bodyLength = length;
  // Bytes after the body are ignored: on UDP they are padding (RFC 3261 §18.3), and on a
  // stream the framer cuts each message at its Content-Length before parsing it.
  const body = bytes.subarray(bodyStart, bodyStart + bodyLength);
  const message: SipMessage =
    start.kind === "request"
      ? { kind: "request", method: start.method, uri: start.uri, version: "SIP/2.0", headers, body }
      : { kind: "response", status: start.status, reason: start.reason, version: "SIP/2.0", headers, body };
  return { ok: true, message };
}

/**
 * The Content-Length of a header list: undefined when absent, an error when it is not a
 * number or when two of them disagree (a request smuggling classic).
 */
export function contentLength(headers: readonly SipHeader[]): number | undefined | SipError {
  let found: number | undefined;
  for (const h of headers) {
    if (h.name !== "content-length") continue;
    if (!DIGITS_RE.test(h.value))
      return { code: "bad_content_length", message: `Content-Length "${h.value}" is not a number` };
    const n = Number(h.value);
    if (found !== undefined && found !== n)
      return { code: "bad_content_length", message: `Content-Length given as both ${found} and ${n}` };
    found = n;
  }
  return found;
}

/**
 * Reads the start line and headers from a latin1 view of the bytes (so offsets are byte
 * offsets). Used by parseMessage and by the stream framer, which needs Content-Length before
 * the body has arrived.
 */
export function parseHead(
  text: string,
  limits: SipLimits,
): { readonly ok: true; readonly head: SipHead } | { readonly ok: false; readonly error: SipError } {
  let pos = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives on a stream).
  while (pos < text.length && (text.charCodeAt(pos) === 0x0d || text.charCodeAt(pos) === 0x0a)) pos++;
  const first = nextLine(text, pos);
  if (first === undefined) return sipError("truncated", "no complete start line");
  const startText = text.slice(pos, first.end);
  if (CONTROL_RE.test(startText)) return sipError("bad_start_line", "start line holds control bytes");
  const start = parseStartLine(startText);
  if (!start.ok) return start;
  pos = first.next;
  // Control bytes are looked for once over the whole head (the common case: none); a line is
  // checked on its own only when the head holds some, to name it.
  const end = headEnd(text, pos);
  const found = end === undefined ? CONTROLS : scanHead(text, pos, end + 1);
  const controls = (found & CONTROLS) !== 0;
  const headers: { name: string; rawName: string; value: string }[] = [];
  let lineNo = 1;
  for (;;) {
    const line = nextLine(text, pos);
    if (line === undefined) return sipError("truncated", "headers do not end with an empty line");
    lineNo++;
    const from = pos;
    const to = line.end;
    pos = line.next;
    if (to === from) break;
    if (controls && CONTROL_RE.test(text.slice(from, to)))
      return sipError("bad_header_line", `line ${lineNo} holds control bytes`);
    const c = text.charCodeAt(from);
    let last = headers[headers.length - 1];
    if (c === 0x20 || c === 0x09) {
      // RFC 3261 §7.3.1: a line starting with whitespace continues the previous one.
      if (last === undefined) return sipError("bad_header_line", `line ${lineNo} continues no header`);
      const more = lws(text, from, to);
      if (more !== "") last.value = last.value === "" ? more : `${last.value} ${more}`;
    } else {
      // Offsets into the text, one slice for the name and one for the value.
      const colon = text.indexOf(":", from);
      let nameEnd = colon < 0 || colon >= to ? from : colon;
      while (nameEnd > from && isLws(text.charCodeAt(nameEnd - 1))) nameEnd--;
      const rawName = text.slice(from, nameEnd);
      if (!TOKEN_RE.test(rawName)) return sipError("bad_header_line", `line ${lineNo} is not "name: value"`);
      if (headers.length >= limits.maxHeaders)
        return sipError("too_many_headers", `more than ${limits.maxHeaders} headers`);
      last = { name: canonicalName(rawName), rawName, value: lws(text, colon + 1, to) };
      headers.push(last);
    }
    if (last.value.length > limits.maxHeaderValueBytes)
      return sipError(
        "header_too_large",
        `${last.rawName} value is longer than ${limits.maxHeaderValueBytes} bytes`,
      );
  }
  // The head's lines are those scanned: [first.next, end] and the empty line after them.
  if ((found & NON_ASCII) !== 0)
    for (const h of headers) if (NON_ASCII_RE.test(h.value)) h.value = utf8(h.value);
  return { ok: true, head: { start: start.start, headers, bodyStart: pos } };
}

/**
 * The offset of the LF that ends the last header line starting at `pos` (the empty line comes
 * next), `pos` itself when the empty line is the first, undefined when there is none.
 */
function headEnd(text: string, pos: number): number | undefined {
  if (text.startsWith("\n", pos) || text.startsWith("\r\n", pos)) return pos;
  const crlf = text.indexOf("\n\r\n", pos);
  const lf = text.indexOf("\n\n", pos);
  if (crlf < 0 && lf < 0) return undefined;
  return crlf < 0 ? lf : lf < 0 ? crlf : Math.min(crlf, lf);
}

/** SP or HTAB: the only whitespace around SIP header values (RFC 3261 §25.1 LWS). */
function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * text[from, to) without the SP and HTAB around it. Not String.trim: that also takes U+00A0,
 * which in this latin1 view is the last byte of a UTF-8 "à" or "Š" ending a value.
 */
function lws(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && isLws(text.charCodeAt(a))) a++;
  while (b > a && isLws(text.charCodeAt(b - 1))) b--;
  return text.slice(a, b);
}

/** The line at `pos`: where its text ends (before CR LF or LF) and the next line starts. */
function nextLine(text: string, pos: number): { end: number; next: number } | undefined {
  const nl = text.indexOf("\n", pos);
  if (nl < 0) return undefined;
  return { end: nl > pos && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl, next: nl + 1 };
}

function parseStartLine(
  line: string,
):
  | { readonly ok: true; readonly start: SipHead["start"] }
  | { readonly ok: false; readonly error: SipError } {
  // The lines every peer writes, read without splitting: `SIP/2.0 NNN reason`, and
  // `METHOD uri SIP/2.0`. Anything else goes the general way below, with its errors.
  if (line.startsWith("SIP/2.0 ") && (line.length === 11 || line.charCodeAt(11) === 0x20)) {
    const c0 = line.charCodeAt(8);
    if (c0 >= 0x31 && c0 <= 0x36 && isDigit(line.charCodeAt(9)) && isDigit(line.charCodeAt(10)))
      return {
        ok: true,
        start: { kind: "response", status: Number(line.slice(8, 11)), reason: utf8(line.slice(12)) },
      };
  }
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp2 > sp1 + 1 && line.length === sp2 + 8 && line.endsWith(" SIP/2.0")) {
    const method = line.slice(0, sp1);
    if (TOKEN_RE.test(method))
      return { ok: true, start: { kind: "request", method, uri: utf8(line.slice(sp1 + 1, sp2)) } };
  }
  const parts = line.split(" ");
  const [a = "", b = "", c = ""] = parts;
  if (VERSION_RE.test(a)) {
    // Status-Line: SIP-Version SP Status-Code SP Reason-Phrase (the phrase may hold spaces).
    if (a.toUpperCase() !== "SIP/2.0") return sipError("bad_version", `version ${a} is not SIP/2.0`);
    if (!/^[1-6]\d\d$/.test(b)) return sipError("bad_start_line", `status code "${b}" is not 100-699`);
    const reason = line.slice(a.length + b.length + 2);
    return { ok: true, start: { kind: "response", status: Number(b), reason: utf8(reason) } };
  }
  // Request-Line: Method SP Request-URI SP SIP-Version, single spaces (RFC 3261 §7.1).
  if (parts.length !== 3 || !TOKEN_RE.test(a) || b === "")
    return sipError("bad_start_line", `"${line.slice(0, 80)}" is neither a request nor a status line`);
  if (c.toUpperCase() !== "SIP/2.0") return sipError("bad_version", `version ${c} is not SIP/2.0`);
  return { ok: true, start: { kind: "request", method: a, uri: utf8(b) } };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A latin1 string (one char a byte) read back as UTF-8, when it holds non-ASCII bytes. */
function utf8(latin1: string): string {
  return NON_ASCII_RE.test(latin1) ? Buffer.from(latin1, "latin1").toString("utf8") : latin1;
}
