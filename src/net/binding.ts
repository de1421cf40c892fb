import type { Server } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { ListenerConfig, TlsServerConfig } from "../config/types.ts";
import { formatHostPort } from "../core/address.ts";
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
  const opts: ReusableListenOptions = {
    host: cfg.listen.host,
    port: cfg.listen.port,
    backlog: 2048,
    reusePort: sharePortZero ? reusePort : sharesPort(reusePort, cfg.listen.port),
  };
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
