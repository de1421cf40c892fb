/**
 * A server that is gone, not slow: its health went down because its checks were refused (an
 * ICMP port unreachable to an OPTIONS ping, a TCP reset). Nothing listens on its port, so
 * what waits on it (a call ringing there) will never be answered. Timeouts are not this: an
 * overloaded server misses its pings yet still answers (reference sip.md, "overload is not
 * death").
 */

import type { ServerChange } from "../servers/types.ts";
import { SIP_OPTIONS_REFUSED } from "./sip-options-probe.ts";

/** Whether a health reason says that nothing listens on the server's port. */
export function isRefusal(reason: string): boolean {
  return reason === SIP_OPTIONS_REFUSED || reason.endsWith(": ECONNREFUSED");
}

/** Whether a change takes a server's health down by refusal: the runtime then publishes `server.gone`. */
export function isGone(c: Pick<ServerChange, "what" | "to" | "reason">): boolean {
  return c.what === "health" && c.to === "down" && isRefusal(c.reason);
}
