import type { ListenerConfig } from "../../config/types.ts";
import type { ListenerContext, Protocol } from "../protocol.ts";
import { type HttpListenerOptions, type HttpRoute, httpConfig } from "./config.ts";
import { HttpListener } from "./listener.ts";
import { HttpRoutes } from "./routes.ts";

/** Options that only a new server object can take (the rest apply live: update()). */
function sameOptions(a: HttpListenerOptions, b: HttpListenerOptions): boolean {
  return (
    a.maxHeaderSize === b.maxHeaderSize &&
    a.upstreamConnections === b.upstreamConnections &&
    a.upstreamTimeoutMs === b.upstreamTimeoutMs
  );
}

/** HTTP/1.1 reverse proxy (issue #14): the third protocol of the registry. */
export const http: Protocol = {
  ...httpConfig,
  sameBinding(a: ListenerConfig, b: ListenerConfig) {
    return (
      a.listen.host === b.listen.host &&
      a.listen.port === b.listen.port &&
      (a.tls === undefined) === (b.tls === undefined) &&
      (a.tls?.ca === undefined) === (b.tls?.ca === undefined) &&
      sameOptions(a.options as HttpListenerOptions, b.options as HttpListenerOptions)
    );
  },
  buildRoutes(routes) {
    return new HttpRoutes(routes.filter((r): r is HttpRoute => r.protocol === "http"));
  },
  describeRoute(route) {
    const r = route as HttpRoute;
    const h = r.match.host;
    const parts = [
      ...(h.kind === "exact" ? [`host ${h.host}`] : h.kind === "wildcard" ? [`host *${h.suffix}`] : []),
      ...(r.match.pathPrefix !== "" ? [`path ${r.match.pathPrefix}*`] : []),
    ];
    const action = [
      ...(r.pool !== undefined ? [`pool ${r.pool}`] : []),
      ...(r.status !== undefined ? [`status ${r.status}`] : []),
    ];
    return { match: parts.length > 0 ? parts.join(", ") : "any", action: action.join(", else ") };
  },
  /** Each client connection, and the upstream connection its request holds. */
  descriptors(config: ListenerConfig) {
    return 1 + 2 * (config.options as HttpListenerOptions).maxConnections;
  },
  createListener(config: ListenerConfig, ctx: ListenerContext) {
    return new HttpListener(config, ctx);
  },
};
