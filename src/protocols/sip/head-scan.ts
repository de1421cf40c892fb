/**
 * The bytes a SIP head must not hold, looked for once over the whole head (message.ts): the
 * text is a latin1 view of the datagram, one character per byte.
 */

/** scanHead's answer: a control byte (as CONTROL_RE in message.ts), a byte above 0x7f. */
export const CONTROLS = 1;
export const NON_ASCII = 2;

/**
 * What text[from, to) holds: CONTROLS if a byte CONTROL_RE matches (a control byte other
 * than HTAB, or a CR not followed by LF within the range), NON_ASCII if a byte above 0x7f.
 * That regular expression, an alternation with a lookahead, cost about a quarter of a
 * message's parse, and a second one looked for non-ASCII bytes.
 */
export function scanHead(text: string, from: number, to: number): number {
  // The common head has neither: a simple character class finds out fast, and the CRs (one
  // per line) are found with indexOf. Only a head that holds something is read byte by byte.
  const unusual = unusualIn(text, from, to);
  let bareCr = false;
  for (let i = text.indexOf("\r", from); i >= 0 && i < to; i = text.indexOf("\r", i + 1))
    if (i + 1 >= to || text.charCodeAt(i + 1) !== 0x0a) {
      bareCr = true;
      break;
    }
  if (!unusual) return bareCr ? CONTROLS : 0;
  let found = bareCr ? CONTROLS : 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) found |= NON_ASCII;
    else if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c === 0x7f) found |= CONTROLS;
  }
  return found;
}

/** A byte CONTROL_RE matches but CR, or one above 0x7f (the text is a latin1 view of bytes). */
const UNUSUAL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]/;
const UNUSUAL_FROM = new RegExp(UNUSUAL.source, "g");

/**
 * Whether text[from, to) holds a byte UNUSUAL matches. The search runs from `from` over the
 * whole text when little follows `to` (a slice first costs more than a short body), and over
 * a slice when a long body follows, which it must not read.
 */
function unusualIn(text: string, from: number, to: number): boolean {
  if (text.length - to > 1_024) return UNUSUAL.test(text.slice(from, to));
  UNUSUAL_FROM.lastIndex = from;
  return UNUSUAL_FROM.test(text) && UNUSUAL_FROM.lastIndex <= to;
}
