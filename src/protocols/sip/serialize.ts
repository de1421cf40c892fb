/**
 * serializeMessage: a message back to bytes, the way RFC 3261 §7 writes it whatever the
 * peer sent: CRLF line ends, one header a line, unfolded, in order, Content-Length from the
 * body itself (a proxy that edits a body must not forward a stale length).
 */

import type { SipMessage } from "./types.ts";

export function serializeMessage(m: SipMessage): Buffer {
  // The space after the status code is there even with an empty reason (RFC 3261 §7.2).
  const start = m.kind === "request" ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`;
  let text = `${oneLine(start)}\r\n`;
  let lengthWritten = false;
  for (const h of m.headers) {
    if (h.name === "content-length") {
      // The first one, where it was, with the body's length; a repeat is dropped.
      if (!lengthWritten) text += `${oneLine(h.rawName)}: ${m.body.length}\r\n`;
      lengthWritten = true;
      continue;
    }
    text += `${oneLine(h.rawName)}: ${oneLine(h.value)}\r\n`;
  }
  if (!lengthWritten) text += `Content-Length: ${m.body.length}\r\n`;
  text += "\r\n";
  if (m.body.length === 0) return Buffer.from(text, "utf8");
  // One buffer for head and body: no head buffer to copy again.
  const size = Buffer.byteLength(text, "utf8");
  const out = Buffer.allocUnsafe(size + m.body.length);
  out.write(text, 0, size, "utf8");
  m.body.copy(out, size);
  return out;
}

/**
 * Parsed values never hold a line break; a value built by hand might. It is written as one
 * space, so no text can ever become a header line of its own (header injection).
 */
function oneLine(text: string): string {
  return text.indexOf("\n") < 0 && text.indexOf("\r") < 0 ? text : text.replace(/[\r\n]+/g, " ");
}
