/**
 * The seam between SIP's transports (RFC 3261 §18) and the proxy core: where a message came
 * from, how an answer goes back on the same path, and how a request reaches a server. Types
 * only: the UDP side is net/udp-endpoint.ts, the stream side (TCP, TLS) stream-transport.ts.
 */

import type { SipError, SipMessage } from "./types.ts";

export type SipTransportName = "udp" | "tcp" | "tls";

/** A SIP peer's transport address. `host` is an IP literal (IPv6 without brackets). */
export interface SipPeer {
  readonly transport: SipTransportName;
  readonly host: string;
  readonly port: number;
}

/**
 * A stream connection (TCP or TLS) that a message arrived on. Responses to a request go back
 * on the connection it came on while it is open (§18.2.2); after that, to the Via's
 * received/rport or sent-by on a new connection.
 */
export interface SipFlow {
  readonly id: number;
  readonly peer: SipPeer;
  readonly open: boolean;
  /**
   * Queues bytes on the connection; false when it is closed or its send buffer is over its
   * bound. `failed` hears of bytes accepted that could not leave after all (the connect they
   * waited for failed).
   */
  send(bytes: Buffer, failed?: SendFailed): boolean;
}

/** One message as a transport hands it to the proxy. */
export interface SipInbound {
  readonly message: SipMessage;
  readonly source: SipPeer;
  /** The stream connection it came on; undefined for UDP. */
  readonly flow: SipFlow | undefined;
  /** Bytes on the wire, for metrics. */
  readonly size: number;
  /** The datagram it was parsed from (UDP only): what a hand-off to another thread carries. */
  readonly raw?: Buffer;
}

/** Why bytes from a peer were not a message the proxy could take, for counting and logs. */
export interface SipDropped {
  readonly source: SipPeer;
  readonly error: SipError;
}

/**
 * Told, at most once, that bytes a stream transport accepted never left: the connection they
 * waited for failed (refused, timed out, TLS) or could not be made for want of this process's
 * own resources (`local_resource`: EMFILE and the like, no verdict on the peer).
 */
export type SendFailed = (error: SipError) => void;

/** What the proxy needs to send: one call whatever the transport (false: not sent, counted). */
export interface SipSender {
  send(to: SipPeer, bytes: Buffer, flow?: SipFlow, failed?: SendFailed): boolean;
}
