/**
 * The options of a SIP stream transport (TCP or TLS, RFC 3261 §18), their defaults and their
 * checks, and the counters it keeps. Types and a pure function; the sockets are in
 * stream-transport.ts and stream-connection.ts.
 */

import type { SipDropped, SipInbound, SipPeer } from "./transport.ts";
import { SIP_LIMITS, type SipLimits } from "./types.ts";

/** Connections one stream transport (TCP or TLS) keeps open at once, in and out. */
export const STREAM_MAX_CONNECTIONS = 10_000;

/**
 * Inbound connections one source address may hold at once: a SIP peer (a carrier's SBC, a
 * PBX) needs one or a few; an attacker's 10,000 idle ones would lock everyone else out.
 */
export const STREAM_MAX_PER_SOURCE = 256;

/** How to open a TLS connection to a peer: whom to trust, whether to check, our certificate. */
export interface SipClientTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly verify: boolean;
  readonly servername?: string;
}

export interface SipStreamOptions {
  readonly transport: "tcp" | "tls";
  /** The address to bind. */
  readonly host: string;
  /** 0: the kernel picks (read it back from `address`). */
  readonly port: number;
  /** Bind with SO_REUSEPORT, so a successor process can bind beside (default false). */
  readonly reusePort?: boolean;
  /** Server certificate and key, for transport "tls". */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer };
  /** Outbound TLS: whose certificates to trust, whether to check them, the name to check. */
  readonly clientTls?: SipClientTls;
  /**
   * Outbound TLS settings per peer (a pool server's own `tls:`); when it gives none for a
   * peer, clientTls applies, and without that the system CAs and a verified certificate.
   */
  readonly clientTlsFor?: (peer: SipPeer) => SipClientTls | undefined;
  readonly limits?: Partial<SipLimits>;
  /** No byte either way for this long: close (RFC 5626 §3.5.1 CRLF keep-alives count). */
  readonly idleTimeoutMs?: number;
  /** A message begun must be complete within this: a trickling peer costs one timeout. */
  readonly messageTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** An outbound TCP connect; a TLS one gets handshakeTimeoutMs more for its handshake. */
  readonly connectTimeoutMs?: number;
  /**
   * Connections, inbound and outbound together; new inbound ones over it, or over nine tenths
   * of it (the last tenth is for ours), are closed at once.
   */
  readonly maxConnections?: number;
  /**
   * Connections with one peer address at once, inbound and ours together: an inbound one
   * over it is closed at once, a message that would need a new one of ours is not sent.
   */
  readonly maxPerSource?: number;
  /** Bytes waiting to be written on one connection; over it the connection is closed. */
  readonly maxQueuedBytes?: number;
  readonly onMessage: (m: SipInbound) => void;
  readonly onDropped?: (d: SipDropped) => void;
}

/** The options with every default filled in, checked once. */
export interface SipStreamConfig {
  readonly transport: "tcp" | "tls";
  readonly limits: SipLimits;
  readonly idleTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxPerSource: number;
  readonly maxQueuedBytes: number;
}

/** Counters since start; a fresh copy on every read. */
export interface SipStreamStats {
  /** Inbound connections taken (TLS ones before their handshake). */
  readonly accepted: number;
  /** Outbound connections established (TLS ones after their handshake). */
  readonly connected: number;
  /** Inbound connections closed at once because maxConnections were open. */
  readonly refusedOverLimit: number;
  /** Inbound connections closed at once because their source had maxPerSource open. */
  readonly refusedPerSource: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Streams closed on bytes that do not frame as SIP, oversized messages included. */
  readonly malformed: number;
  /** Connections closed by a timeout: idle, message, TLS handshake, outbound connect. */
  readonly timeouts: number;
  /** Messages not sent: no connection, connect failed, a write buffer over its bound. */
  readonly sendFailures: number;
  /** Throws from onMessage, caught: a bug in the handler must not end the connection. */
  readonly handlerErrors: number;
}

export type MutableStats = { -readonly [K in keyof SipStreamStats]: number };

export function emptyStats(): MutableStats {
  return {
    accepted: 0,
    connected: 0,
    refusedOverLimit: 0,
    refusedPerSource: 0,
    messagesIn: 0,
    messagesOut: 0,
    malformed: 0,
    timeouts: 0,
    sendFailures: 0,
    handlerErrors: 0,
  };
}

/** Thrown by the constructor for options that cannot work; `code` is stable. */
export class SipStreamOptionsError extends Error {
  readonly code = "E_SIP_STREAM_OPTIONS";
  constructor(message: string) {
    super(message);
    this.name = "SipStreamOptionsError";
  }
}

export function streamConfig(o: SipStreamOptions): SipStreamConfig {
  if (o.transport !== "tcp" && o.transport !== "tls")
    throw new SipStreamOptionsError(`transport must be "tcp" or "tls", not "${String(o.transport)}"`);
  if (o.transport === "tls" && o.tls === undefined)
    throw new SipStreamOptionsError('transport "tls" needs tls.cert and tls.key');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535)
    throw new SipStreamOptionsError(`port ${o.port} is not 0-65535`);
  const c: SipStreamConfig = {
    transport: o.transport,
    limits: Object.freeze({ ...SIP_LIMITS, ...o.limits }),
    idleTimeoutMs: positive("idleTimeoutMs", o.idleTimeoutMs, 300_000),
    messageTimeoutMs: positive("messageTimeoutMs", o.messageTimeoutMs, 10_000),
    handshakeTimeoutMs: positive("handshakeTimeoutMs", o.handshakeTimeoutMs, 5_000),
    connectTimeoutMs: positive("connectTimeoutMs", o.connectTimeoutMs, 2_000),
    maxConnections: positive("maxConnections", o.maxConnections, STREAM_MAX_CONNECTIONS),
    maxPerSource: positive("maxPerSource", o.maxPerSource, STREAM_MAX_PER_SOURCE),
    maxQueuedBytes: positive("maxQueuedBytes", o.maxQueuedBytes, 1024 * 1024),
  };
  return Object.freeze(c);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0)
    throw new SipStreamOptionsError(`${name} must be a positive integer, not ${value}`);
  return value;
}
