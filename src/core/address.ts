import { isIP } from "node:net";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port`, `host`, `[v6]:port`, `[v6]` or a bare IPv6 address.
 * Returns a message string on error so the config layer can attach a location.
 */
export function parseHostPort(input: string, defaultPort?: number): HostPort | string {
  const s = input.trim();
  if (s === "") return "address is empty";
  let host: string;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return `unterminated IPv6 bracket in "${input}"`;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return `unexpected "${rest}" after IPv6 address`;
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const idx = s.lastIndexOf(":");
    if (idx >= 0) {
      host = s.slice(0, idx);
      portText = s.slice(idx + 1);
    } else {
      host = s;
    }
    if (host === "") return `missing host in "${input}"`;
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return `invalid host "${host}"`;
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return `missing port in "${input}"`;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return `invalid port "${portText}"`;
    port = Number(portText);
    if (port > 65535) return `port ${port} is out of range`;
  }
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
