/**
 * A server that is gone, not slow: its health went down because its checks were refused (an
 * ICMP port unreachable to an OPTIONS ping over UDP, a TCP reset to one over TCP or TLS or to
 * a tcp check). Nothing listens on its port, so what waits on it (a call ringing there) will
 * never be answered. Timeouts are not this: an overloaded server misses its pings yet still
 * answers (reference sip.md, "overload is not death").
 */

import type { ServerChange } from "../servers/types.ts";

/** Why a UDP ping failed when nothing listens on the server's port (ICMP port unreachable). */
export const SIP_OPTIONS_REFUSED = "sip-options: refused (ICMP port unreachable)";
/** Why a TCP or TLS ping failed when nothing listens on the server's port (a TCP reset). */
export const SIP_OPTIONS_STREAM_REFUSED = "sip-options: refused (ECONNREFUSED)";
/** A `tcp` check's reason when the server reset the connection (probe-failure.ts). */
const TCP_REFUSED = "tcp check: ECONNREFUSED";

/**
 * Whether a health reason is an active check's refusal: exactly the probes' own words, never a
 * text that merely ends so (an agent's `down#db: ECONNREFUSED`, a session's failure reason).
 */
export function isRefusal(reason: string): boolean {
  return reason === SIP_OPTIONS_REFUSED || reason === SIP_OPTIONS_STREAM_REFUSED || reason === TCP_REFUSED;
}

/**
 * Whether a change takes a server's health down by its checks' refusal: the runtime then
 * publishes `server.gone`. The health layer only: an agent or an event socket saying down is
 * the server speaking, and it is there.
 */
export function isGone(c: Pick<ServerChange, "layer" | "what" | "to" | "reason">): boolean {
  return c.layer === "health" && c.what === "health" && c.to === "down" && isRefusal(c.reason);
}
