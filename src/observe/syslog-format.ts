/**
 * RFC 5424 syslog messages and RFC 6587 octet-counting frames: pure functions, no sockets.
 */
import { ErrorCodes, TrunklineError } from "../core/errors.ts";

export {
  FACILITIES,
  isIpLiteral,
  parseSyslogTarget,
  SYSLOG_PORT,
  type SyslogTarget,
} from "../core/syslog-target.ts";

/** RFC 5424 §6.2.1 table 2. */
export const SEVERITIES = Object.freeze({
  emergency: 0,
  alert: 1,
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  informational: 6,
  debug: 7,
});

/**
 * pino's numeric levels (trace 10, debug 20, info 30, warn 40, error 50, fatal 60) to
 * severities. There is no pino level for notice, alert or emergency: a proxy that logs
 * never decides the whole host is unusable.
 */
export function severityOf(pinoLevel: number): number {
  if (pinoLevel >= 60) return SEVERITIES.critical;
  if (pinoLevel >= 50) return SEVERITIES.error;
  if (pinoLevel >= 40) return SEVERITIES.warning;
  if (pinoLevel >= 30) return SEVERITIES.informational;
  return SEVERITIES.debug;
}

/**
 * Header fields are PRINTUSASCII (%d33-126) with a maximum length (RFC 5424 §6); anything
 * else (spaces, controls, non-ASCII) becomes `_` so a hostile or odd value cannot shift the
 * fields a receiver parses. An empty value is the NILVALUE `-` (§6.2).
 */
function headerField(s: string | undefined, max: number): string {
  if (s === undefined) return "-";
  const clean = s.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean === "" ? "-" : clean;
}

/**
 * STRUCTURED-DATA (§6.3): one or more `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]`. SD-NAMEs
 * are PRINTUSASCII except `= SP ] "`, at most 32 characters; PARAM-VALUE escapes `" \ ]`.
 */
const SD_NAME = "[\\x21\\x23-\\x3c\\x3e-\\x5c\\x5e-\\x7e]{1,32}";
const SD_NAME_RE = new RegExp(`^${SD_NAME}$`);
const SD_PARAM_VALUE = '"(?:[^"\\\\\\]]|\\\\["\\\\\\]])*"';
const SD_ELEMENTS_RE = new RegExp(`^(?:\\[${SD_NAME}(?: ${SD_NAME}=${SD_PARAM_VALUE})*\\])+$`, "su");

/** Builds one SD-ELEMENT with §6.3.3 escaping; throws on a name the grammar forbids. */
export function formatSdElement(id: string, params: Readonly<Record<string, string>>): string {
  if (!SD_NAME_RE.test(id))
    throw invalid(`SD-ID "${id}" is not 1-32 printable ASCII characters without = ] " or space`);
  let out = `[${id}`;
  for (const [name, value] of Object.entries(params)) {
    if (!SD_NAME_RE.test(name))
      throw invalid(`PARAM-NAME "${name}" is not 1-32 printable ASCII characters without = ] " or space`);
    out += ` ${name}="${value.replace(/["\\\]]/g, (c) => `\\${c}`)}"`;
  }
  return `${out}]`;
}

export interface SyslogMessage {
  /** 0–23, see FACILITIES. */
  readonly facility: number;
  /** 0–7, see SEVERITIES. */
  readonly severity: number;
  readonly timestamp: Date;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  readonly msgId?: string;
  /** Already-formatted STRUCTURED-DATA (see formatSdElement); NILVALUE when absent. */
  readonly structuredData?: string;
  readonly message: string;
}

function invalid(message: string): TrunklineError {
  return new TrunklineError(ErrorCodes.SYSLOG_INVALID, message);
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG` (RFC 5424 §6).
 *
 * MSG is UTF-8 without the BOM. §6.4 says a sender SHOULD prefix the BOM when it knows MSG
 * is Unicode; we leave it out on purpose: our MSG is a JSON line meant for machines, rsyslog
 * and most collectors keep the three BOM bytes inside the stored text (breaking JSON
 * parsers downstream), and MSG-ANY (§6.4) makes BOM-less UTF-8 a valid message.
 *
 * Throws E_SYSLOG_INVALID for a facility or severity out of range or malformed
 * structured data: those are programming errors, never caused by what is logged.
 */
export function formatRfc5424(m: SyslogMessage): Buffer {
  if (!Number.isInteger(m.facility) || m.facility < 0 || m.facility > 23)
    throw invalid(`facility ${m.facility} is not 0-23`);
  if (!Number.isInteger(m.severity) || m.severity < 0 || m.severity > 7)
    throw invalid(`severity ${m.severity} is not 0-7`);
  const sd = m.structuredData === undefined || m.structuredData === "" ? "-" : m.structuredData;
  if (sd !== "-" && !SD_ELEMENTS_RE.test(sd))
    throw invalid(`structured data ${JSON.stringify(sd)} does not follow RFC 5424 §6.3`);
  const ts = Number.isNaN(m.timestamp.getTime()) ? "-" : m.timestamp.toISOString();
  // PRI = facility * 8 + severity (§6.2.1); VERSION is 1.
  const head = `<${m.facility * 8 + m.severity}>1 ${ts} ${headerField(m.hostname, 255)} ${headerField(m.appName, 48)} ${headerField(m.procId, 128)} ${headerField(m.msgId, 32)} ${sd}`;
  // UTF-8, not "ascii": the header fields are ASCII by now, but a PARAM-VALUE is UTF-8
  // (§6.3.3), and Node's "ascii" keeps only the low byte of each UTF-16 unit, so U+4E5D
  // would become a bare `]` and end the SD-ELEMENT early.
  if (m.message === "") return Buffer.from(head, "utf8");
  return Buffer.concat([Buffer.from(`${head} `, "utf8"), Buffer.from(m.message, "utf8")]);
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in octets. */
export function frameOctetCounting(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, "ascii"), msg]);
}

/**
 * Cuts `buf` to at most `max` bytes without splitting a UTF-8 sequence, so a truncated
 * message is still valid UTF-8 (RFC 5424 §6.1 allows truncation; §6.4 wants valid UTF-8).
 */
export function truncateUtf8(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) to the lead byte, then drop that
  // sequence if it does not fit whole.
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

/**
 * A JSON log record made to fit `maxBytes` by cutting its longest top-level strings (a
 * caller's request, Call-ID, path), each to half with a `…[cut N]` marker, until it fits:
 * every key, the outcome among them, stays and the record stays valid JSON. Undefined when
 * `message` is not a JSON object or cannot be made to fit (the caller then cuts the bytes).
 */
export function fitJson(message: string, maxBytes: number): string | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) return undefined;
  const r = rec as Record<string, unknown>;
  for (let i = 0; i < 64; i++) {
    const text = JSON.stringify(r);
    if (Buffer.byteLength(text) <= maxBytes) return text;
    let key: string | undefined;
    let longest = 32;
    for (const [k, v] of Object.entries(r))
      if (typeof v === "string" && v.length > longest) {
        key = k;
        longest = v.length;
      }
    if (key === undefined) return undefined;
    const keep = Math.floor(longest / 2);
    r[key] = `${(r[key] as string).slice(0, keep)}…[cut ${longest - keep}]`;
  }
  return undefined;
}
