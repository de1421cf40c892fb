/**
 * The listening side of an HTTP listener: a plain TCP server, or TLS with the SNI table,
 * whose connections each become a ServerConn (wire/server-conn.ts: our own HTTP/1.1 on the
 * raw socket). Bounds on what clients may cost: connections at once (refused at accept),
 * the TLS handshake's time, and a sweep of every connection's head, request, idle and
 * silent time and of every upstream request's wait (one timer per listener, none per
 * request or socket).
 */

import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { ListenerConfig } from "../../config/types.ts";
import { tlsOptions } from "../../net/binding.ts";
import { KEEPALIVE } from "../../net/keepalive.ts";
import { type SniTable, sniCallback } from "../../net/tls-sni.ts";
import type { HttpListenerOptions } from "./config.ts";
import type { ConnLimits } from "./wire/server-conn.ts";

export interface FrontHandlers {
  connection(sock: Socket): void;
  tlsError(err: Error, sock: Socket): void;
  /** The SNI certificates at handshake time (TLS only; swapped on reload). */
  sni(): SniTable;
  error(err: Error): void;
  /** A connection closed at accept: `max_connections` were open. */
  dropped(client: string, max: number): void;
}

/** The per-connection bounds of a listener's options. */
export function connLimits(o: HttpListenerOptions): ConnLimits {
  return {
    maxHeaderSize: o.maxHeaderSize,
    headerTimeoutMs: o.headerTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs,
    idleTimeoutMs: o.idleTimeoutMs,
    clientTimeoutMs: o.clientTimeoutMs,
  };
}

/** How often the bounds are checked: a bound is only as tight as its check. */
export function sweepEveryMs(o: HttpListenerOptions): number {
  const tightest = Math.min(o.headerTimeoutMs, o.idleTimeoutMs, o.clientTimeoutMs, o.upstreamTimeoutMs);
  return Math.max(25, Math.min(1_000, tightest / 4));
}

export function createFrontServer(cfg: ListenerConfig, o: HttpListenerOptions, h: FrontHandlers): Server {
  let server: Server;
  if (cfg.tls) {
    server = createTlsServer(
      {
        ...tlsOptions(cfg.tls),
        SNICallback: sniCallback(h.sni),
        handshakeTimeout: o.headerTimeoutMs,
        // A client's FIN ends its requests, not our answers (ServerConn ends our side).
        allowHalfOpen: true,
        ...KEEPALIVE,
      },
      h.connection,
    );
    server.on("tlsClientError", (err: Error, sock: Socket) => {
      sock.destroy();
      h.tlsError(err, sock);
    });
  } else server = createNetServer({ ...KEEPALIVE, allowHalfOpen: true }, h.connection);
  server.maxConnections = o.maxConnections;
  server.on("error", h.error);
  server.on("drop", (d?: { remoteAddress?: string; remotePort?: number }) =>
    h.dropped(`${d?.remoteAddress}:${d?.remotePort}`, server.maxConnections),
  );
  return server;
}
