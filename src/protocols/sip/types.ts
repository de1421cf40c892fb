/**
 * The shapes of a parsed SIP message (RFC 3261 §7). A message is kept close to the wire: the
 * headers in their order, each with the name as received, so a proxy that forwards a message
 * changes only what it means to change.
 */

/** Why bytes are not a SIP message (or an edit cannot be made): a stable code and a sentence. */
export interface SipError {
  readonly code: string;
  readonly message: string;
}

export interface SipHeader {
  /** Canonical name: lower case, compact forms expanded (`v` → `via`). */
  readonly name: string;
  /** The name exactly as received (`v`, `VIA`, `Via`); what the serializer writes. */
  readonly rawName: string;
  /** The value after unfolding, trimmed, decoded as UTF-8 when it holds non-ASCII bytes. */
  readonly value: string;
}

interface SipCommon {
  /** Always `SIP/2.0`: the parser refuses any other version. */
  readonly version: string;
  readonly headers: readonly SipHeader[];
  /** The body bytes (a slice of the input for a parsed message; Content-Length of them). */
  readonly body: Buffer;
}

export interface SipRequest extends SipCommon {
  readonly kind: "request";
  readonly method: string;
  /** The Request-URI as text, unparsed. */
  readonly uri: string;
}

export interface SipResponse extends SipCommon {
  readonly kind: "response";
  readonly status: number;
  readonly reason: string;
}

export type SipMessage = SipRequest | SipResponse;

export interface SipLimits {
  /** Bytes of a whole message (a UDP datagram, or one message on a stream). */
  readonly maxMessageBytes: number;
  /** Header fields (after unfolding). */
  readonly maxHeaders: number;
  /** Bytes of one header value after unfolding. */
  readonly maxHeaderValueBytes: number;
}

/** 65,535: the largest UDP payload; a SIP message bigger than that is no call we expect. */
export const SIP_LIMITS: SipLimits = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaders: 256,
  maxHeaderValueBytes: 8 * 1024,
});

/** The largest UDP payload over IPv4 (65,535 - 8 - 20): a bigger datagram gets EMSGSIZE. */
export const MAX_UDP_PAYLOAD = 65_507;

export function sipError(code: string, message: string): { readonly ok: false; readonly error: SipError } {
  return { ok: false, error: { code, message } };
}
