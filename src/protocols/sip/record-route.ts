/**
 * Our Record-Route entries for a request that may set up a dialog (RFC 3261 §16.6 step 4):
 * one, naming the transport the caller used; two when the request leaves on another
 * transport (RFC 5658 double Record-Route), so each side's in-dialog requests reach us on
 * the transport it knows. Each carries the signed token of the server (rr-token.ts).
 */

import type { SipProxyEnv } from "./proxy-env.ts";
import { recordRouteValue } from "./route.ts";
import { RR_TOKEN_PARAM, signFor } from "./rr-token.ts";
import type { SipTransportName } from "./transport.ts";

/**
 * The values in the order to add them (each goes on top): the caller-facing one first, so it
 * ends up below the server-facing one. A UAS reads the set top down and a UAC bottom up
 * (§12.1.1, §12.1.2): each sends to the entry facing it. Empty when the token cannot be made.
 */
export function recordRoutes(
  env: Pick<SipProxyEnv, "us" | "keys" | "serverTransport">,
  inbound: SipTransportName,
  server: string,
  callId: string,
): readonly string[] {
  const token = signFor(server, env.keys, { context: callId });
  if (!token.ok) return [];
  const sides = inbound === env.serverTransport ? [inbound] : [inbound, env.serverTransport];
  const out: string[] = [];
  for (const transport of sides) {
    const v = recordRouteValue({ ...env.us, transport }, [[RR_TOKEN_PARAM, token.token]]);
    if (!v.ok) return [];
    out.push(v.value);
  }
  return out;
}
