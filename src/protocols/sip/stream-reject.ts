/**
 * What a stream connection says before it closes on bytes it cannot frame: a 400 (or a 513
 * for a message over the size limit) when what arrived reads as a request with the headers a
 * response copies (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq), so the client's
 * transaction ends at once instead of by its timer. Pure functions over bytes.
 */

import { canonicalName, TOKEN_RE } from "./headers.ts";
import { contentLength, parseHead } from "./message.ts";
import { buildResponse } from "./response.ts";
import { serializeMessage } from "./serialize.ts";
import type { SipError, SipHeader, SipLimits, SipRequest } from "./types.ts";

/** Errors about size rather than syntax: RFC 3261 §21.5.11 has its own answer for them. */
const TOO_LARGE = new Set(["header_section_too_large", "body_too_large", "too_large"]);

/** The headers a response copies (§8.2.6.2); a head without one of them gets no answer. */
const WANTED = new Set(["via", "from", "to", "call-id", "cseq"]);

/** Header lines looked at, at most: the wanted ones come first in every real client. */
const MAX_LINES = 512;

/**
 * Where the message that failed starts in `bytes`: the stream's unfinished message (if any)
 * followed by the chunk that failed, in which `completed` messages ended before the failing
 * one. The completed ones framed, so their heads parse and their Content-Length is right.
 */
export function failedMessage(bytes: Buffer, completed: number, limits: SipLimits): Buffer {
  let off = skipCrlf(bytes, 0);
  for (let i = 0; i < completed && off < bytes.length; i++) {
    const end = headEnd(bytes, off);
    if (end < 0) break;
    const head = parseHead(bytes.toString("latin1", off, end), limits);
    if (!head.ok) break;
    const length = contentLength(head.head.headers);
    off = skipCrlf(bytes, end + (typeof length === "number" ? length : 0));
  }
  return bytes.subarray(Math.min(off, bytes.length));
}

/**
 * The response to send before closing, or undefined when the bytes do not start with a
 * request line (a response or garbage gets no answer), the request is an ACK (§17.1.1.3:
 * never answered), or a copied header is missing. The error's text goes in a Warning (§20.43,
 * code 399: miscellaneous) so the sender can see why.
 */
export function rejectionFor(bytes: Buffer, error: SipError, toTag: string): Buffer | undefined {
  const text = bytes.toString("latin1", 0, Math.min(bytes.length, 256 * 1024));
  let pos = skipCrlfText(text, 0);
  const start = nextLine(text, pos);
  if (start === undefined) return undefined;
  const [method = "", uri = "", version = ""] = start.text.split(" ");
  if (!TOKEN_RE.test(method) || uri === "" || version.toUpperCase() !== "SIP/2.0" || method === "ACK")
    return undefined;
  pos = start.next;
  const headers: SipHeader[] = [];
  for (let n = 0; n < MAX_LINES; n++) {
    const line = nextLine(text, pos);
    if (line === undefined || line.text === "") break;
    pos = line.next;
    const colon = line.text.indexOf(":");
    // A folded line (§7.3.1) continues a header; the copied ones are never folded in practice.
    const folded = line.text.charCodeAt(0) === 0x20 || line.text.charCodeAt(0) === 0x09;
    if (folded || colon <= 0 || /[\x00-\x08\x0a-\x1f\x7f]/.test(line.text)) continue;
    const rawName = line.text.slice(0, colon).trim();
    const name = canonicalName(rawName);
    if (!WANTED.has(name) || !TOKEN_RE.test(rawName)) continue;
    if (name !== "via" && headers.some((h) => h.name === name)) continue;
    headers.push({ name, rawName, value: line.text.slice(colon + 1).trim() });
  }
  const req: SipRequest = {
    kind: "request",
    method,
    uri,
    version: "SIP/2.0",
    headers,
    body: Buffer.alloc(0),
  };
  const status = TOO_LARGE.has(error.code) ? 513 : 400;
  const warning = `399 trunkline "${error.code}: ${error.message.replace(/["\\\x00-\x1f\x7f]/g, "'").slice(0, 200)}"`;
  const built = buildResponse(req, status, { toTag, headers: [["Warning", warning]] });
  return built.ok ? serializeMessage(built.response) : undefined;
}

function skipCrlf(bytes: Buffer, off: number): number {
  let i = off;
  while (i < bytes.length && (bytes[i] === 0x0d || bytes[i] === 0x0a)) i++;
  return i;
}

function skipCrlfText(text: string, off: number): number {
  let i = off;
  while (i < text.length && (text.charCodeAt(i) === 0x0d || text.charCodeAt(i) === 0x0a)) i++;
  return i;
}

/** The offset just after the empty line that ends the head starting at `off`, or -1. */
function headEnd(bytes: Buffer, off: number): number {
  let line = off;
  for (;;) {
    const nl = bytes.indexOf(0x0a, line);
    if (nl < 0) return -1;
    const len = nl - line;
    if (len === 0 || (len === 1 && bytes[line] === 0x0d)) return nl + 1;
    line = nl + 1;
  }
}

/** A line's text without its CR LF (or LF), and where the next starts; undefined if unended. */
function nextLine(text: string, pos: number): { text: string; next: number } | undefined {
  const nl = text.indexOf("\n", pos);
  if (nl < 0) return undefined;
  const end = nl > pos && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
  return { text: text.slice(pos, end), next: nl + 1 };
}
