/**
 * HTTP/1.x message heads, parsed pure over bytes (RFC 9112 §2–§7): the request a client sends
 * and the response a server answers. Strict where leniency lets two parties frame one message
 * differently (request smuggling): CRLF line ends only, no obs-fold, no space before a colon,
 * Transfer-Encoding and Content-Length never together, one Content-Length value, chunked
 * last. A head is whole when its empty line has arrived; until then the caller keeps reading.
 */

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  /** Until the connection closes (responses only). */
  | { readonly kind: "close" };

export const NO_BODY: Framing = Object.freeze({ kind: "none" });
const CHUNKED: Framing = Object.freeze({ kind: "chunked" });
const CLOSE: Framing = Object.freeze({ kind: "close" });

interface Fields {
  /** Field names as sent and values without surrounding whitespace: name, value, name, value... */
  readonly raw: string[];
  readonly framing: Framing | undefined;
  /** Connection tokens, lower case. */
  readonly close: boolean;
  readonly keepAlive: boolean;
  readonly upgradeToken: boolean;
  readonly upgrade: string | undefined;
  readonly host: string | undefined;
  readonly hosts: number;
  readonly expectContinue: boolean;
  /** Transfer-Encoding is present but its last coding is not chunked. */
  readonly teNotChunked: boolean;
}

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and a later 1.x, read as 1.1). */
  readonly minor: 0 | 1;
  readonly raw: string[];
  readonly host: string | undefined;
  readonly framing: Framing;
  /** The client wants the connection kept after this exchange. */
  readonly keepAlive: boolean;
  /** Connection: upgrade with an Upgrade field (a WebSocket handshake, RFC 9110 §7.8). */
  readonly upgrade: boolean;
  readonly expectContinue: boolean;
  /** Bytes of the head, its empty line included. */
  readonly size: number;
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly minor: 0 | 1;
  readonly raw: string[];
  readonly framing: Framing;
  /** The server keeps the connection for another request. */
  readonly keepAlive: boolean;
  readonly size: number;
}

/** A head that cannot be read: the status to answer (a request) and why. */
export interface HeadError {
  readonly error: 400 | 431 | 501 | 505;
  readonly reason: string;
}

/** A head not yet whole: `undefined`. */
export type HeadResult<T> = T | HeadError | undefined;

export function isHeadError<T extends object>(r: T | HeadError): r is HeadError {
  return "error" in r;
}

/** Fields of one head, at most (a flood of tiny fields costs as much as a big one). */
export const MAX_FIELDS = 256;

// RFC 9110 §5.6.2 tchar, by byte.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** A field value: visible ASCII, space, tab and obs-text; never another control byte. */
function badValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** The value without surrounding spaces and tabs (RFC 9110 §5.5 OWS; never other whitespace). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * A Host value that cannot be read as more than a host and port: no space, list comma, path,
 * query, fragment or user part (RFC 3986 §3.2). Other odd bytes pass: they route nowhere,
 * and every page escapes what it shows of them.
 */
const HOST_VALUE = /^[^\s,/\\?#@]*$/;

/** Where the empty line ends (index after CRLFCRLF), or -1. */
function headEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf("\r\n\r\n", from, "latin1");
  return i < 0 ? -1 : i + 4;
}

const err = (error: HeadError["error"], reason: string): HeadError => ({ error, reason });

function parseFields(lines: string[]): Fields | HeadError {
  if (lines.length - 1 > MAX_FIELDS) return err(431, `more than ${MAX_FIELDS} header fields`);
  const raw: string[] = [];
  let cl: string | undefined;
  let te: string | undefined;
  let close = false;
  let keepAlive = false;
  let upgradeToken = false;
  let upgrade: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  let expectContinue = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0)
      return err(
        400,
        line.length > 0 && (line[0] === " " || line[0] === "\t")
          ? "obs-fold"
          : "a header line without a name",
      );
    const name = line.slice(0, colon);
    if (!isToken(name)) return err(400, `bad header name "${name.slice(0, 40)}"`);
    const value = trimOws(line.slice(colon + 1));
    if (badValue(value)) return err(400, `control byte in header ${name}`);
    raw.push(name, value);
    // Only the fields that frame or route the message are looked at.
    const n = name.length;
    if (n !== 4 && n !== 6 && n !== 7 && n !== 10 && n !== 14 && n !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === "content-length") {
      for (const v of value.split(",")) {
        const t = trimOws(v);
        if (!/^\d{1,15}$/.test(t)) return err(400, `bad Content-Length "${value.slice(0, 40)}"`);
        if (cl !== undefined && cl !== t) return err(400, "two different Content-Length values");
        cl = t;
      }
    } else if (lower === "transfer-encoding") te = te === undefined ? value : `${te}, ${value}`;
    else if (lower === "connection") {
      for (const v of value.split(",")) {
        const t = trimOws(v).toLowerCase();
        if (t === "close") close = true;
        else if (t === "keep-alive") keepAlive = true;
        else if (t === "upgrade") upgradeToken = true;
      }
    } else if (lower === "upgrade") upgrade = value;
    else if (lower === "host") {
      if (!HOST_VALUE.test(value)) return err(400, "bad Host value");
      hosts++;
      host ??= value;
    } else if (lower === "expect") expectContinue = value.toLowerCase() === "100-continue";
  }
  let framing: Framing | undefined;
  let teNotChunked = false;
  if (te !== undefined) {
    if (cl !== undefined) return err(400, "both Transfer-Encoding and Content-Length");
    const codings = te
      .split(",")
      .map((c) => trimOws(c).toLowerCase())
      .filter((c) => c !== "");
    const chunked = codings.filter((c) => c === "chunked").length;
    if (codings.at(-1) === "chunked" && chunked === 1) framing = CHUNKED;
    else if (chunked > 0) return err(400, "chunked applied twice or not last");
    else teNotChunked = true;
  } else if (cl !== undefined) framing = Number(cl) === 0 ? NO_BODY : { kind: "length", length: Number(cl) };
  return { raw, framing, close, keepAlive, upgradeToken, upgrade, host, hosts, expectContinue, teNotChunked };
}

/** The head's lines, or an error: a bare LF anywhere is refused. */
function headLines(buf: Buffer, start: number, end: number): string[] | HeadError {
  const text = buf.toString("latin1", start, end - 4);
  const lines = text.split("\r\n");
  for (const l of lines)
    if (l.includes("\n") || l.includes("\r")) return err(400, "a bare LF or CR in the head");
  return lines;
}

/**
 * The request head at `start` of `buf`. `max` bounds the head's bytes: past it with no empty
 * line, 431. Leading empty lines before a request line are skipped (RFC 9112 §2.2).
 */
export function parseRequestHead(buf: Buffer, start: number, max: number): HeadResult<RequestHead> {
  let s = start;
  while (s + 1 < buf.length && buf[s] === 0x0d && buf[s + 1] === 0x0a && s - start < max) s += 2;
  const end = headEnd(buf, s);
  if (end < 0) return buf.length - start > max ? err(431, `request head over ${max} bytes`) : undefined;
  if (end - start > max) return err(431, `request head over ${max} bytes`);
  const lines = headLines(buf, s, end);
  if (!Array.isArray(lines)) return lines;
  const first = lines[0] as string;
  const sp1 = first.indexOf(" ");
  const sp2 = first.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || first.indexOf(" ", sp2 + 1) >= 0) return err(400, "bad request line");
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const version = first.slice(sp2 + 1);
  if (!isToken(method)) return err(400, "bad method");
  if (target.length === 0 || badValue(target) || target.includes("\t")) return err(400, "bad request target");
  const v = /^HTTP\/(\d)\.(\d)$/.exec(version);
  if (v === null) return err(400, "bad HTTP version");
  if (v[1] !== "1") return err(505, `HTTP/${v[1]}.${v[2]} is not supported`);
  const minor = v[2] === "0" ? 0 : 1;
  const f = parseFields(lines);
  if (isHeadError(f)) return f;
  if (f.teNotChunked) return err(501, "a transfer coding other than chunked");
  if (f.framing?.kind === "chunked" && minor === 0)
    return err(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (f.hosts > 1) return err(400, "two Host headers");
  if (minor === 1 && f.hosts === 0) return err(400, "no Host header");
  if (method === "CONNECT") return err(501, "CONNECT is not supported");
  return {
    method,
    target,
    minor,
    raw: f.raw,
    host: f.host,
    framing: f.framing ?? NO_BODY,
    keepAlive: minor === 1 ? !f.close : f.keepAlive && !f.close,
    // An HTTP/1.0 request's Upgrade and Expect are ignored (RFC 9110 §7.8, §10.1.1).
    upgrade: minor === 1 && f.upgradeToken && f.upgrade !== undefined,
    expectContinue: minor === 1 && f.expectContinue,
    size: end - start,
  };
}

/**
 * The response head at `start` of `buf`, for a request of `method`. The body's framing
 * follows RFC 9112 §6.3: none for HEAD, 1xx, 204 and 304; else chunked, a length, or until
 * the connection closes.
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  max: number,
  method: string,
): HeadResult<ResponseHead> {
  const end = headEnd(buf, start);
  if (end < 0) return buf.length - start > max ? err(431, `response head over ${max} bytes`) : undefined;
  if (end - start > max) return err(431, `response head over ${max} bytes`);
  const lines = headLines(buf, start, end);
  if (!Array.isArray(lines)) return lines;
  const m = /^HTTP\/1\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0] as string);
  if (m === null) return err(400, "bad status line");
  const status = Number(m[2]);
  const reason = m[3] ?? "";
  if (status < 100 || badValue(reason)) return err(400, "bad status line");
  const minor = m[1] === "0" ? 0 : 1;
  const f = parseFields(lines);
  if (isHeadError(f)) return f;
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
  const framing = bodiless ? NO_BODY : f.teNotChunked ? CLOSE : (f.framing ?? CLOSE);
  return {
    status,
    reason,
    minor,
    raw: f.raw,
    framing,
    // Transfer-Encoding in an HTTP/1.0 answer: faulty framing, the connection is not reused (RFC 9112 §6.1).
    keepAlive:
      framing !== CLOSE &&
      (minor === 1
        ? !f.close
        : f.keepAlive && !f.close && (bodiless || (f.framing !== CHUNKED && !f.teNotChunked))),
    size: end - start,
  };
}
