// TEMPORARY placeholder by the lead so the rest compiles; helper-2 replaces this file.
import { parseHostPort } from "../core/address.ts";

export const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

export function parseSyslogTarget(url: string): { transport: "udp" | "tcp"; host: string; port: number } | string {
  const m = /^(udp|tcp):\/\/(.+)$/.exec(url);
  if (!m) return `"${url}" is not udp://host[:port] or tcp://host[:port]`;
  const hp = parseHostPort(m[2] as string, 514);
  if (typeof hp === "string") return hp;
  return { transport: m[1] as "udp" | "tcp", host: hp.host, port: hp.port };
}
