import type { Socket } from "node:net";

/**
 * TCP keep-alive on every proxied connection. A FastAGI session or a SIP stream may carry no
 * byte for hours (a call parked in Dial), so there is no idle timeout to bound it; a peer
 * that vanishes without a FIN or RST (power loss, a dropped NAT entry) would hold the other
 * side's socket for good. Keep-alive probes from 60 s of silence turn that into an error
 * within minutes (libuv sets 10 probes 1 s apart). Turning it on costs four setsockopt(2)
 * calls per socket, so a FastAGI listener turns it on only for sessions that live long
 * enough to need it (tcp_keepalive_after, keepalive-sweep.ts).
 */
export const TCP_KEEPALIVE_DELAY_MS = 60_000;

/** Options for net/tls createServer and connect. */
export const KEEPALIVE = { keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_DELAY_MS } as const;

/** Turns keep-alive on for a socket that is still open (a destroyed one is left alone). */
export function keepAliveOn(sock: Socket | undefined): void {
  if (sock && !sock.destroyed) sock.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
}
