import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TlsClientConfig } from "../config/types.ts";
import type { HostPort } from "../core/address.ts";
import { ErrorCodes, TrunklineError } from "../core/errors.ts";
import { KEEPALIVE } from "./keepalive.ts";
import { isLocalResourceError } from "./local-errors.ts";
import { type ReadTap, readBuffer } from "./read-tap.ts";
import { clientTlsOptions } from "./tls-client.ts";

/** Lets a caller abandon a connect in progress without an AbortController per session. */
export interface CancelToken {
  cancelled: boolean;
  onCancel: (() => void) | undefined;
}

export function cancel(token: CancelToken): void {
  if (token.cancelled) return;
  token.cancelled = true;
  token.onCancel?.();
}

/**
 * Opens a TCP (or TLS) connection to an upstream, bounded by `timeoutMs` including the TLS
 * handshake. Rejects with a TrunklineError whose code tells refused/timeout/TLS apart.
 * With a `tap`, what the socket reads goes to it and not to 'data' events: a plain socket
 * reads through Node's `onread` into the shared buffer (read-tap.ts), a TLS one through
 * 'data'. A TLS connection always gets TCP keep-alive (a handshake dwarfs its four
 * setsockopt calls); a plain one only with `keepAlive` (a caller may turn it on later, on a
 * connection that lives long enough to need it).
 */
export function connectUpstream(
  address: HostPort,
  tls: TlsClientConfig | undefined,
  timeoutMs: number,
  token?: CancelToken,
  tap?: ReadTap,
  keepAlive = false,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const sock: Socket = tls
      ? tlsConnect({
          host: address.host,
          port: address.port,
          ...clientTlsOptions(tls, address.host),
          ...KEEPALIVE,
        })
      : tap
        ? netConnect({
            host: address.host,
            port: address.port,
            onread: { buffer: readBuffer, callback: tap.onread },
            ...(keepAlive ? KEEPALIVE : undefined),
          })
        : netConnect({ host: address.host, port: address.port, ...(keepAlive ? KEEPALIVE : undefined) });
    // tls.connect does not pass keep-alive on to the TCP socket it opens.
    if (tls) sock.setKeepAlive(true, KEEPALIVE.keepAliveInitialDelay);
    if (tls && tap)
      sock.on("data", (chunk: Buffer) => {
        if (!tap.deliver(chunk)) sock.pause();
      });
    sock.allowHalfOpen = true; // the server's FIN must not end our side: Asterisk still answers it
    const done = (err?: TrunklineError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (token) token.onCancel = undefined;
      if (err) {
        sock.destroy();
        reject(err);
      } else resolve(sock);
    };
    // One 'error' listener for the socket's life: before the connect it fails the connect;
    // after it, until the caller's own handlers, an error must not crash the process.
    const onError = (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const code = isLocalResourceError(err)
        ? ErrorCodes.LOCAL_RESOURCE
        : tls && !err.code?.startsWith("E")
          ? ErrorCodes.TLS_FAILED
          : ErrorCodes.CONNECT_FAILED;
      const tlsCode =
        err.code && /CERT|TLS|SSL|SELF_SIGNED|HOSTNAME|ALTNAME/.test(err.code) ? ErrorCodes.TLS_FAILED : code;
      done(
        new TrunklineError(tlsCode, err.code ? `${err.code}: ${err.message}` : err.message, { cause: err }),
      );
    };
    const onAbort = () => done(new TrunklineError(ErrorCodes.CONNECT_FAILED, "aborted"));
    // Timers run before I/O in the event loop: after a stall of this thread (a storm of
    // reloads, a loaded machine) a connection that the kernel completed in time may wait behind
    // the timer. The verdict waits one turn (setImmediate runs after the I/O poll), so it is seen.
    const timer = setTimeout(
      () =>
        setImmediate(() =>
          done(new TrunklineError(ErrorCodes.CONNECT_TIMEOUT, `no connection within ${timeoutMs}ms`)),
        ),
      timeoutMs,
    );
    sock.on("error", onError);
    if (token) {
      if (token.cancelled) {
        onAbort();
        return;
      }
      token.onCancel = onAbort;
    }
    sock.once(tls ? "secureConnect" : "connect", () => {
      sock.setNoDelay(true);
      done();
    });
  });
}
