/**
 * serializeMessage: a message back to bytes, the way RFC 3261 §7 writes it whatever the
 * peer sent: CRLF line ends, one header a line, unfolded, in order, Content-Length from the
 * body itself (a proxy that edits a body must not forward a stale length).
 */

import type { SipMessage } from "./types.ts";

export function serializeMessage(m: SipMessage): Buffer {
  // The space after the status code is there even with an empty reason (RFC 3261 §7.2).
  const start = m.kind === "request" ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`;
  const lines = [oneLine(start)];
  let lengthWritten = false;
  for (const h of m.headers) {
    if (h.name === "content-length") {
      // The first one, where it was, with the body's length; a repeat is dropped.
      if (!lengthWritten) lines.push(`${oneLine(h.rawName)}: ${m.body.length}`);
      lengthWritten = true;
      continue;
    }
    lines.push(`${oneLine(h.rawName)}: ${oneLine(h.value)}`);
  }
  if (!lengthWritten) lines.push(`Content-Length: ${m.body.length}`);
  lines.push("", "");
  const head = Buffer.from(lines.join("\r\n"), "utf8");
  return m.body.length === 0 ? head : Buffer.concat([head, m.body], head.length + m.body.length);
}

/**
 * Parsed values never hold a line break; a value built by hand might. It is written as one
 * space, so no text can ever become a header line of its own (header injection).
 */
function oneLine(text: string): string {
  return /[\r\n]/.test(text) ? text.replace(/[\r\n]+/g, " ") : text;
}
