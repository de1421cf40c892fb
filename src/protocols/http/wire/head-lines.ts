/**
 * The lines of an HTTP/1.x head read from its bytes (head.ts): where its empty line ends,
 * where its start line ends and its fields (fields.ts), the method. In JS over the bytes, not
 * through Buffer calls: on a head of a few hundred bytes each indexOf or toString cost about
 * 50 ns, more than the scan itself.
 */

import { type HeadError, headError } from "./facts.ts";
import { scanFields } from "./fields.ts";

const err = headError;

/** Fields of one head, at most (a flood of tiny fields costs as much as a big one). */
export const MAX_FIELDS = 256;

/** The empty line that ends a head, with the line end before it. */
export const EMPTY_LINE = Buffer.from("\r\n\r\n", "latin1");
/** Below this many bytes, a loop finds the empty line sooner than a call into Buffer.indexOf. */
const SHORT_SCAN = 1024;

/** Where the empty line ends (index after CRLFCRLF), or -1. */
export function headEnd(buf: Buffer, from: number): number {
  const n = buf.length;
  if (n - from > SHORT_SCAN) {
    const i = buf.indexOf(EMPTY_LINE, from);
    return i < 0 ? -1 : i + 4;
  }
  for (let i = from + 3; i < n; i++)
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i + 1;
  return -1;
}

/** The start line's end (its CR) and the scanned fields, or why not. */
export function lines(buf: Buffer, s: number, end: number): { line: number; at: number[] } | HeadError {
  // The start line runs to its CR: a whole head has one before its empty line.
  let line = s;
  for (;;) {
    const c = buf[line] as number;
    if (c === 0x0d && buf[line + 1] === 0x0a) break;
    if ((c < 0x20 && c !== 0x09) || c === 0x7f)
      return err(
        400,
        c === 0x0a
          ? "a bare LF in the head"
          : c === 0x0d
            ? "a bare CR in the head"
            : "control byte in the start line",
      );
    line++;
  }
  const at: number[] = [];
  const bad = scanFields(buf, line + 2, end - 2, at, MAX_FIELDS);
  if (bad !== undefined) return err(bad === "too many fields" ? 431 : 400, bad);
  return { line, at };
}

/** Whether `buf` holds the bytes of `text` (ASCII) at `at`. */
export function bytesAre(buf: Buffer, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The usual methods, as one string each, so that reading one makes no new string. */
const METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"];

/** The method in `buf[s, e)`: a known one's shared string, else the bytes as text. */
export function methodOf(buf: Buffer, s: number, e: number): string {
  for (const m of METHODS) if (m.length === e - s && bytesAre(buf, s, m)) return m;
  return buf.toString("latin1", s, e);
}
