// SIP messages handed between listener threads: the thread that owns a call, and the
// message as it arrives on the other side of a thread channel.
import type { SipInbound, SipPeer } from "./transport.ts";
import type { SipMessage } from "./types.ts";

/** A UDP message handed to another thread (structured clone: the body arrives as a Uint8Array). */
export interface Handed {
  readonly message: SipMessage;
  readonly source: SipPeer;
  readonly size: number;
}

export function revive(h: Handed): SipInbound {
  const b = h.message.body as Uint8Array;
  const body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { message: { ...h.message, body }, source: h.source, flow: undefined, size: h.size };
}

/** The thread that owns a Call-ID: FNV-1a over its UTF-16 code units, modulo the threads. */
export function ownerOf(callId: string, threads: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < callId.length; i++) {
    h ^= callId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % threads;
}
