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
    const head = valueHead(env.us.host, env.us.port, transport);
    if (head === undefined) return [];
    // A token is base64url (rr-token.ts): every character is one a URI parameter may hold.
    out.push(`${head}${token.token}>`);
  }
  return out;
}

/**
 * `<sip:HOST:PORT;transport=T;lr;tl=`: our Record-Route value up to its token, made and
 * checked by recordRouteValue once per address and transport (not once per INVITE);
 * undefined when they cannot be written in a URI.
 */
function valueHead(host: string, port: number, transport: string): string | undefined {
  const id = `${host}\0${port}\0${transport}`;
  if (heads.has(id)) return heads.get(id);
  const v = recordRouteValue({ host, port, transport }, [[RR_TOKEN_PARAM, "x"]]);
  const tail = `;${RR_TOKEN_PARAM}=x>`;
  const head = v.ok && v.value.endsWith(tail) ? v.value.slice(0, -2) : undefined;
  if (heads.size >= 64) heads.clear();
  heads.set(id, head);
  return head;
}

const heads = new Map<string, string | undefined>();
