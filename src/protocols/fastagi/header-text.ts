/**
 * Header bytes as text and back, losslessly. Asterisk writes UTF-8 in practice, but nothing
 * stops a channel variable, a caller name or a dialplan argument from holding other bytes
 * (a Latin-1 display name from an old phone). Decoding those as UTF-8 would turn each into
 * U+FFFD, and a rewrite would then send the server bytes the caller never sent. So a byte
 * that is not part of a valid UTF-8 sequence becomes the lone surrogate U+DC00 + byte (the
 * "surrogateescape" of PEP 383): it matches no ordinary pattern, is logged as an escape
 * (JSON.stringify writes lone surrogates as \udcXX), and is written back as its own byte.
 */

const FATAL = new TextDecoder("utf-8", { fatal: true });
/** A lone surrogate that stands for one byte (U+DC80..U+DCFF: bytes 0x80..0xFF). */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/u;

/** The bytes [start, end) as UTF-8 text; a byte outside a valid sequence becomes U+DC00 + byte. */
export function decodeHeaderText(buf: Buffer, start: number, end: number): string {
  const bytes = buf.subarray(start, end);
  try {
    return FATAL.decode(bytes);
  } catch {
    return decodeEscaping(bytes);
  }
}

/** The text as bytes: UTF-8, except that U+DC80..U+DCFF alone are the bytes they stand for. */
export function encodeHeaderText(text: string): Buffer {
  if (!ESCAPED_BYTE.test(text)) return Buffer.from(text, "utf8");
  const parts: Buffer[] = [];
  let run = "";
  // for..of walks code points: a surrogate pair is one, a lone surrogate is one of its own.
  for (const ch of text) {
    const b = escapedByte(ch);
    if (b === undefined) run += ch;
    else {
      if (run !== "") parts.push(Buffer.from(run, "utf8"));
      run = "";
      parts.push(Buffer.of(b));
    }
  }
  if (run !== "") parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

/** The byte an escaped character stands for, or undefined for any other character. */
export function escapedByte(ch: string): number | undefined {
  const c = ch.charCodeAt(0);
  return ch.length === 1 && c >= 0xdc80 && c <= 0xdcff ? c - 0xdc00 : undefined;
}

/** UTF-8 decoding by hand, for bytes that are not all valid UTF-8 (RFC 3629 §4 ranges). */
function decodeEscaping(b: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const n = sequenceLength(b, i);
    if (n <= 1) {
      out += String.fromCharCode(n === 1 ? c : 0xdc00 + c);
      i++;
      continue;
    }
    out += Buffer.from(b.buffer, b.byteOffset + i, n).toString("utf8");
    i += n;
  }
  return out;
}

/** The length of the valid UTF-8 sequence at i (1 for ASCII), or 0 when there is none. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
