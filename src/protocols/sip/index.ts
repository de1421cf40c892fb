import type { ListenerConfig } from "../../config/types.ts";
import type { ListenerContext, Protocol } from "../protocol.ts";
import { type SipListenerOptions, type SipRoute, sipConfig } from "./config.ts";
import { SipListener } from "./listener.ts";
import { SipRoutes } from "./routes.ts";
import { STREAM_MAX_CONNECTIONS } from "./stream-options.ts";

function sameOptions(a: SipListenerOptions, b: SipListenerOptions): boolean {
  return (
    a.transports.join() === b.transports.join() &&
    a.advertise?.host === b.advertise?.host &&
    a.advertise?.port === b.advertise?.port &&
    a.secret === b.secret &&
    a.maxCalls === b.maxCalls &&
    a.callTimeoutMs === b.callTimeoutMs &&
    a.maxTransactionBytes === b.maxTransactionBytes &&
    a.overload?.utilization === b.overload?.utilization &&
    a.overload?.after === b.overload?.after
  );
}

/** SIP (RFC 3261 proxy, UDP first): the second protocol of the registry. */
export const sip: Protocol = {
  ...sipConfig,
  sameBinding(a: ListenerConfig, b: ListenerConfig) {
    return (
      a.listen.host === b.listen.host &&
      a.listen.port === b.listen.port &&
      (a.tls === b.tls ||
        (a.tls !== undefined &&
          b.tls !== undefined &&
          a.tls.cert.equals(b.tls.cert) &&
          a.tls.key.equals(b.tls.key) &&
          (a.tls.ca === b.tls.ca ||
            (a.tls.ca !== undefined && b.tls.ca !== undefined && a.tls.ca.equals(b.tls.ca))))) &&
      sameOptions(a.options as SipListenerOptions, b.options as SipListenerOptions)
    );
  },
  buildRoutes(routes) {
    return new SipRoutes(routes.filter((r): r is SipRoute => r.protocol === "sip"));
  },
  describeRoute(route) {
    const m = (route as SipRoute).match;
    const parts = [
      ...(m.method ? [`method ${m.method.source}`] : []),
      ...(m.ruriUser ? [`ruri_user ${m.ruriUser.source}`] : []),
      ...(m.ruriHost ? [`ruri_host ${m.ruriHost.source}`] : []),
      ...(m.fromUser ? [`from_user ${m.fromUser.source}`] : []),
      ...(m.toUser ? [`to_user ${m.toUser.source}`] : []),
      ...m.headers.map(([k, re]) => `${k} ${re.source}`),
    ];
    return { match: parts.length > 0 ? parts.join(", ") : "any", action: `pool ${route.pool ?? "?"}` };
  },
  /** UDP: one socket. TCP and TLS: a listening socket and up to STREAM_MAX_CONNECTIONS each. */
  descriptors(config: ListenerConfig) {
    const transports = (config.options as SipListenerOptions).transports;
    return transports.reduce((n, t) => n + (t === "udp" ? 1 : 1 + STREAM_MAX_CONNECTIONS), 0);
  },
  createListener(config: ListenerConfig, ctx: ListenerContext) {
    return new SipListener(config, ctx);
  },
};
