/**
 * The field lines of an HTTP/1.x head, scanned pure over bytes in one pass (RFC 9112 §5):
 * each name checked as a token, each value for control bytes, each line ended by CRLF. No
 * string is made here: a field is four numbers (its name's start, its colon, its value's
 * end, its kind), and only the fields that frame, route or are rewritten have a kind. The
 * rest are carried as the bytes they came in.
 */

/** The fields the proxy reads or rewrites; every other name is OTHER and carried as is. */
export const K = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  UPGRADE: 5,
  EXPECT: 6,
  KEEP_ALIVE: 7,
  PROXY_CONNECTION: 8,
  PROXY_AUTHENTICATE: 9,
  PROXY_AUTHORIZATION: 10,
  TE: 11,
  TRAILER: 12,
  X_FORWARDED_FOR: 13,
  VIA: 14,
  X_FORWARDED_PROTO: 15,
  X_FORWARDED_HOST: 16,
  FORWARDED: 17,
  X_REAL_IP: 18,
} as const;

const NAMES: readonly (readonly [string, number])[] = [
  ["host", K.HOST],
  ["content-length", K.CONTENT_LENGTH],
  ["transfer-encoding", K.TRANSFER_ENCODING],
  ["connection", K.CONNECTION],
  ["upgrade", K.UPGRADE],
  ["expect", K.EXPECT],
  ["keep-alive", K.KEEP_ALIVE],
  ["proxy-connection", K.PROXY_CONNECTION],
  ["proxy-authenticate", K.PROXY_AUTHENTICATE],
  ["proxy-authorization", K.PROXY_AUTHORIZATION],
  ["te", K.TE],
  ["trailer", K.TRAILER],
  ["x-forwarded-for", K.X_FORWARDED_FOR],
  ["via", K.VIA],
  ["x-forwarded-proto", K.X_FORWARDED_PROTO],
  ["x-forwarded-host", K.X_FORWARDED_HOST],
  ["forwarded", K.FORWARDED],
  ["x-real-ip", K.X_REAL_IP],
];

/** The known names by length: a name of another length is OTHER without a byte compared. */
const BY_LENGTH: (readonly (readonly [string, number])[] | undefined)[] = [];
for (const n of NAMES) BY_LENGTH[n[0].length] = [...(BY_LENGTH[n[0].length] ?? []), n];

// RFC 9110 §5.6.2 tchar, by byte.
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** The kind of the name in `buf[start, end)`, case-insensitively (known names are letters and "-"). */
function kindOf(buf: Buffer, start: number, end: number): number {
  const cands = BY_LENGTH[end - start];
  if (cands === undefined) return K.OTHER;
  next: for (const [name, kind] of cands) {
    for (let i = 0; i < name.length; i++)
      if (((buf[start + i] as number) | 0x20) !== name.charCodeAt(i)) continue next;
    return kind;
  }
  return K.OTHER;
}

/** Numbers per field in a scan: name start, colon, value end (its CR), kind. */
export const STRIDE = 4;

/**
 * Scans the field lines in `buf[from, stop)` (`stop`: the CR of the empty line that ends the
 * head) into `at`. Returns why the fields are unreadable, or undefined.
 */
export function scanFields(
  buf: Buffer,
  from: number,
  stop: number,
  at: number[],
  maxFields: number,
): string | undefined {
  let i = from;
  while (i < stop) {
    let j = i;
    while (TCHAR[buf[j] as number] === 1) j++;
    if (j === i || buf[j] !== 0x3a) {
      const c = buf[i];
      if (j === i)
        return c === 0x20 || c === 0x09
          ? "obs-fold"
          : c === 0x0a
            ? "a bare LF in the head"
            : "a header line without a name";
      return `bad header name "${buf.toString("latin1", i, Math.min(j + 1, i + 40))}"`;
    }
    let k = j + 1;
    for (;;) {
      const c = buf[k] as number;
      if (c === 0x0d) break;
      if ((c < 0x20 && c !== 0x09) || c === 0x7f)
        return c === 0x0a
          ? "a bare LF in the head"
          : `control byte in header ${buf.toString("latin1", i, j)}`;
      k++;
    }
    if (buf[k + 1] !== 0x0a) return "a bare CR in the head";
    if (at.length >= maxFields * STRIDE) return "too many fields";
    at.push(i, j, k, kindOf(buf, i, j));
    i = k + 2;
  }
  return undefined;
}

/** A value without surrounding spaces and tabs (RFC 9110 §5.5 OWS; never other whitespace). */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** The value of the field at `at[f]` (its offset in the scan). */
export function fieldValue(buf: Buffer, at: readonly number[], f: number): string {
  return trimOws(buf.toString("latin1", (at[f + 1] as number) + 1, at[f + 2] as number));
}

/** Every field as name, value pairs (names as sent). For what is not on the hot path. */
export function fieldPairs(buf: Buffer, at: readonly number[]): string[] {
  const out: string[] = [];
  for (let f = 0; f < at.length; f += STRIDE)
    out.push(buf.toString("latin1", at[f] as number, at[f + 1] as number), fieldValue(buf, at, f));
  return out;
}
