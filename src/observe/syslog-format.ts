/**
 * RFC 5424 syslog messages and RFC 6587 octet-counting frames: pure functions.
 */
import { parseHostPort } from "../core/address.ts";

/** RFC 5424 §6.2.1 facility codes. */
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

/** pino's numeric levels → RFC 5424 severities (§6.2.1 table 2). */
export function severityOf(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2; // fatal → critical
  if (pinoLevel >= 50) return 3; // error
  if (pinoLevel >= 40) return 4; // warning
  if (pinoLevel >= 30) return 6; // informational
  return 7; // debug, trace
}

export interface SyslogTarget {
  readonly transport: "udp" | "tcp";
  readonly host: string;
  readonly port: number;
}

export function parseSyslogTarget(url: string): SyslogTarget | string {
  const m = /^(udp|tcp):\/\/(.+)$/i.exec(url.trim());
  if (!m) return `"${url}" is not udp://host[:port] or tcp://host[:port]`;
  const hp = parseHostPort(m[2] as string, 514);
  if (typeof hp === "string") return hp;
  return { transport: (m[1] as string).toLowerCase() as "udp" | "tcp", host: hp.host, port: hp.port };
}

/** Header fields are PRINTUSASCII (33–126) with a maximum length; empty becomes NILVALUE. */
function field(s: string | undefined, max: number): string {
  if (s === undefined) return "-";
  const clean = s.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean === "" ? "-" : clean;
}

export interface SyslogMessage {
  readonly facility: number;
  readonly severity: number;
  readonly timestamp: Date;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  readonly msgId?: string;
  readonly message: string;
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG` (RFC 5424 §6). MSG is UTF-8
 * without the BOM: §6.4 makes the BOM a SHOULD only when the sender knows MSG is Unicode
 * text meant for display; ours is a JSON line, and rsyslog would keep the BOM bytes in it.
 */
export function formatRfc5424(m: SyslogMessage): Buffer {
  const pri = m.facility * 8 + m.severity;
  const head = `<${pri}>1 ${m.timestamp.toISOString()} ${field(m.hostname, 255)} ${field(m.appName, 48)} ${field(m.procId, 128)} ${field(m.msgId, 32)} - `;
  return Buffer.concat([Buffer.from(head, "ascii"), Buffer.from(m.message, "utf8")]);
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`. */
export function frameOctetCounting(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, "ascii"), msg]);
}
