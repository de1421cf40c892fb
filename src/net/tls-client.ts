import { isIP } from "node:net";

/** A server's `tls:` as the config holds it (TlsClientConfig), or as a transport keeps it. */
export interface ClientTlsSource {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  readonly servername?: string | undefined;
  readonly verify: boolean;
}

/** What tls.connect (and node:https's connect) take from a server's `tls:`. */
export interface ClientTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/**
 * A server's `tls:` as connect options, the same for every protocol: its CA, client
 * certificate, and the name to ask for and verify (`servername`, else the host when it is a
 * name: SNI carries no IP address, RFC 6066 §3). No `tls:` object: system CAs, verified.
 */
export function clientTlsOptions(t: ClientTlsSource | undefined, host: string): ClientTlsOptions {
  return {
    ...(t?.ca ? { ca: t.ca } : {}),
    ...(t?.cert ? { cert: t.cert } : {}),
    ...(t?.key ? { key: t.key } : {}),
    ...(t?.servername !== undefined ? { servername: t.servername } : isIP(host) ? {} : { servername: host }),
    rejectUnauthorized: t?.verify ?? true,
  };
}
