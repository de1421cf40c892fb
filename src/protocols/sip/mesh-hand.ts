// SIP messages handed between listener threads: the thread that owns a call, and the
// message as it arrives on the other side of a thread channel.
import { parseMessage } from "./message.ts";
import type { SipInbound } from "./transport.ts";
import type { SipError } from "./types.ts";

/**
 * A UDP message handed to another thread: the datagram and its sender, parsed again there.
 * Not the parsed message: the structured clone of its header objects and strings cost about
 * 3× the bytes' clone plus a parse (measured with 16 hand-offs a turn: 13–15 µs against 3–4
 * µs a message, and a parse is about 5).
 */
export interface Handed {
  readonly b: Uint8Array;
  readonly h: string;
  readonly p: number;
}

/** What to hand over for a UDP message (undefined for a stream's, which never is). */
export function hand(m: SipInbound): Handed | undefined {
  const raw = m.raw;
  if (raw === undefined || m.source.transport !== "udp") return undefined;
  // A view into a larger buffer would be cloned whole: then a copy of its own bytes goes
  // (Buffer#slice is a view too).
  const b = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length ? raw : new Uint8Array(raw);
  return { b, h: m.source.host, p: m.source.port };
}

/** The message on the owner's side, or why its bytes no longer parse (never, from our parser). */
export function revive(h: Handed): SipInbound | SipError {
  const raw = Buffer.from(h.b.buffer, h.b.byteOffset, h.b.byteLength);
  const parsed = parseMessage(raw, { stream: false });
  if (!parsed.ok) return parsed.error;
  const source = { transport: "udp", host: h.h, port: h.p } as const;
  return { message: parsed.message, source, flow: undefined, size: raw.length, raw };
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
