/** Syslog settings as the config names them: facilities and the target URL. Pure, no sockets. */
import { isIP } from "node:net";
import { parseHostPort } from "./address.ts";

/**
 * RFC 5424 §6.2.1 table 1. The RFC describes 13–15 without short names; these are the
 * names rsyslog's `%syslogfacility-text%` and most syslog(3) headers use for them.
 */
export const FACILITIES: Readonly<Record<string, number>> = Object.freeze({
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  security: 13,
  console: 14,
  solaris_cron: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
});

export interface SyslogTarget {
  readonly transport: "udp" | "tcp";
  readonly host: string;
  readonly port: number;
}

/** The default syslog port for both transports: RFC 5426 §3.3 (UDP) and common practice for TCP. */
export const SYSLOG_PORT = 514;

/**
 * `udp://host[:port]` or `tcp://host[:port]`, IPv6 in brackets (`tcp://[::1]:514`).
 * Returns a message on error so the config layer can attach `file:line:col`.
 */
export function parseSyslogTarget(url: string): SyslogTarget | string {
  const m = /^([A-Za-z]+):\/\/(.*)$/.exec(url.trim());
  if (!m) return `"${url}" is not udp://host[:port] or tcp://host[:port]`;
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== "udp" && scheme !== "tcp") {
    return `unsupported syslog transport "${m[1]}": use udp:// or tcp://${scheme === "tls" ? " (TLS is not supported)" : ""}`;
  }
  // A trailing slash is harmless (people paste URLs); anything else after the authority is not.
  const rest = (m[2] as string).replace(/\/$/, "");
  if (/[/?#@]/.test(rest)) return `"${url}": a syslog URL has no user, path or query, only host[:port]`;
  if (rest === "") return `"${url}": missing host`;
  const hp = parseHostPort(rest, SYSLOG_PORT);
  if (typeof hp === "string") return hp;
  if (hp.port === 0) return `"${url}": port 0 is not a syslog port`;
  return { transport: scheme, host: hp.host, port: hp.port };
}

/** True when `host` is an IP literal, so no DNS lookup is needed to reach it. */
export function isIpLiteral(host: string): boolean {
  return isIP(host) !== 0;
}
