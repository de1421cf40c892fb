/**
 * The node:http (or node:https) server of a listener, with the bounds of issue #14 on what a
 * client may cost: header size and time, whole-request time, idle keep-alive, a socket silent
 * either way, connections at once. Node enforces them; this file only sets them.
 */

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { ListenerConfig } from "../../config/types.ts";
import { tlsOptions } from "../../net/binding.ts";
import { type SniTable, sniCallback } from "../../net/tls-sni.ts";
import type { HttpListenerOptions } from "./config.ts";

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};
const CLOSE = "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

export interface NodeServerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, sock: Socket, head: Buffer): void;
  tlsError(err: Error, sock: Socket): void;
  /** The SNI certificates at handshake time (https only; swapped on reload). */
  sni(): SniTable;
  error(err: Error): void;
}

/** The limits that apply to a running server (update() sets them again). */
export function applyLimits(server: Server, o: HttpListenerOptions): void {
  server.headersTimeout = o.headerTimeoutMs;
  server.requestTimeout = o.requestTimeoutMs;
  server.keepAliveTimeout = o.idleTimeoutMs;
  server.maxConnections = o.maxConnections;
  // A socket with no byte either way for this long is destroyed (no 'timeout' listener).
  server.setTimeout(o.clientTimeoutMs);
}

export function createNodeServer(cfg: ListenerConfig, o: HttpListenerOptions, h: NodeServerHandlers): Server {
  const base = {
    maxHeaderSize: o.maxHeaderSize,
    noDelay: true,
    keepAlive: true,
    // Node checks header and request timeouts on this period (30 s by default): a bound is
    // only as tight as its check.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, o.headerTimeoutMs / 4)),
  };
  const server: Server = cfg.tls
    ? (createHttpsServer({
        ...base,
        ...tlsOptions(cfg.tls),
        SNICallback: sniCallback(h.sni),
        handshakeTimeout: o.headerTimeoutMs,
      }) as Server)
    : createHttpServer(base);
  applyLimits(server, o);
  server.on("request", h.request);
  server.on("upgrade", h.upgrade);
  server.on("clientError", (err: NodeJS.ErrnoException, sock: Socket) => {
    // Node's own answer, made explicit: 431 for headers over max_header_size (RFC 6585 §5),
    // 408 for a request not complete in time, 400 for anything unparsable.
    const code =
      err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    if (err.code !== "ECONNRESET" && sock.writable) sock.end(`HTTP/1.1 ${code} ${REASONS[code]}${CLOSE}`);
    sock.destroy();
  });
  if (cfg.tls)
    server.on("tlsClientError", (err: Error, sock: Socket) => {
      sock.destroy();
      h.tlsError(err, sock);
    });
  server.on("error", h.error);
  return server;
}
