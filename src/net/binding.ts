import type { Server } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { ListenerConfig, TlsServerConfig } from "../config/types.ts";
import { formatHostPort } from "../core/address.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import { type ReusableListenOptions, sharesPort } from "./reuse-port.ts";

export function tlsOptions(
  t: TlsServerConfig,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: t.cert,
    key: t.key,
    ...(t.ca ? { ca: t.ca } : {}),
    // A CA in the config means: clients must present a certificate it signed.
    requestCert: t.ca !== undefined,
    rejectUnauthorized: t.ca !== undefined,
  };
}

/** Whether two configs can share one listening socket (else the socket is handed over). */
export function sameBinding(a: ListenerConfig, b: ListenerConfig): boolean {
  // Turning TLS or client-certificate checking on or off needs a new socket: a live
  // setSecureContext() swaps certificates but cannot change requestCert.
  return (
    a.protocol === b.protocol &&
    formatHostPort(a.listen) === formatHostPort(b.listen) &&
    (a.tls === undefined) === (b.tls === undefined) &&
    (a.tls?.ca === undefined) === (b.tls?.ca === undefined)
  );
}

/**
 * Binds a listener's server (plain, TLS or HTTP) to its configured address; rejects with the
 * bind error. With `reusePort` (where Node has it) a successor process can bind beside it.
 */
export function listenOn(
  server: Server,
  cfg: ListenerConfig,
  reusePort: boolean,
  sharePortZero = false,
): Promise<void> {
  const { host, port } = cfg.listen;
  return listenAt(server, host, port, sharePortZero ? reusePort : sharesPort(reusePort, port));
}

/**
 * Binds a listener's server (listenOn) and says so: the `listener.listening` event with the
 * port it got. The one start of every TCP listener (FastAGI, HTTP).
 */
export async function bindListener(
  server: Server,
  cfg: ListenerConfig,
  o: {
    readonly events: EventBus<TrunklineEvents>;
    readonly reusePort: boolean;
    readonly sharePortZero?: boolean | undefined;
  },
): Promise<void> {
  await listenOn(server, cfg, o.reusePort, o.sharePortZero);
  const a = server.address();
  o.events.emit("listener.listening", {
    listener: cfg.name,
    protocol: cfg.protocol,
    listen: formatHostPort(cfg.listen),
    port: a !== null && typeof a === "object" ? a.port : undefined,
    tls: cfg.tls !== undefined,
  });
}

/** Binds a server to `host:port` (SO_REUSEPORT as asked); rejects with the bind error. */
export function listenAt(server: Server, host: string, port: number, reusePort: boolean): Promise<void> {
  const opts: ReusableListenOptions = { host, port, backlog: 2048, reusePort };
  return new Promise((resolve, reject) => {
    const onErr = (err: Error) => reject(err);
    server.once("error", onErr);
    server.listen(opts, () => {
      server.removeListener("error", onErr);
      resolve();
    });
  });
}

/** Closes the listening socket only, so a successor can bind the address; open connections go on. */
export async function releaseListening(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    // close() waits for every connection; only the listening socket matters here.
    setImmediate(resolve);
  });
}
