/**
 * A chunked body relayed (chunked.ts follows it): passed on as it came but for its trailer
 * section (RFC 9112 §7.1.2), which is held until whole (the scanner bounds it) and passed on
 * without the fields that frame, route or belong to one connection. Recipients may merge
 * trailer fields into the header section (RFC 9110 §6.5.2), and such fields "cannot be
 * processed outside the header section" (§6.5.1): a Content-Length, Transfer-Encoding or Host
 * there would reframe or reroute, at the next hop, a message this proxy has already checked.
 * For a peer that cannot take chunked, the data alone (trailers dropped).
 */

import { ChunkedScanner, type ChunkStep } from "./chunked.ts";
import { K, STRIDE, scanFields } from "./fields.ts";
import { dropSet, HOP_BY_HOP } from "./rewrite.ts";

/** Fields no trailer may carry on: framing, routing, and the hop-by-hop ones (RFC 9110 §7.6.1). */
const DROP = dropSet([...HOP_BY_HOP, K.CONTENT_LENGTH, K.HOST]);

/** Trailer fields, at most (as the fields of a head, head.ts MAX_FIELDS). */
const MAX_TRAILERS = 256;
const CRLF = Buffer.from("\r\n", "latin1");

/**
 * A whole trailer section (its field lines and the empty line) without the fields of DROP; the
 * same buffer when none is there; undefined when a line is not a field line (RFC 9112 §5).
 */
export function filterTrailers(section: Buffer): Buffer | undefined {
  if (section.length === 2) return section;
  const at: number[] = [];
  if (scanFields(section, 0, section.length - 2, at, MAX_TRAILERS) !== undefined) return undefined;
  let kept: Buffer[] | undefined;
  for (let f = 0; f < at.length; f += STRIDE) {
    const drop = DROP[at[f + 3] as number] === 1;
    if (drop && kept === undefined) {
      kept = [];
      for (let g = 0; g < f; g += STRIDE) kept.push(line(section, at, g));
    } else if (!drop && kept !== undefined) kept.push(line(section, at, f));
  }
  if (kept === undefined) return section;
  kept.push(CRLF);
  return Buffer.concat(kept);
}

function line(b: Buffer, at: readonly number[], f: number): Buffer {
  return b.subarray(at[f] as number, (at[f + 2] as number) + 2);
}

export class ChunkedRelay {
  readonly #sc: ChunkedScanner;
  readonly #decode: boolean;
  /** The trailer section read so far, once it has begun. */
  #trailer: Buffer[] | undefined;

  /** `decode`: pass the data alone; `maxLine`: bytes of a chunk extension and of the trailers. */
  constructor(decode: boolean, maxLine?: number) {
    this.#sc = new ChunkedScanner(maxLine);
    this.#decode = decode;
  }

  /**
   * Reads `buf` and pushes to `out` what to pass on (views of `buf`, or the filtered trailers
   * at the end). `used`: the bytes of `buf` that belong to the body.
   */
  feed(buf: Buffer, out: Buffer[]): ChunkStep {
    if (this.#decode) return this.#sc.feed(buf, 0, (a, b) => out.push(buf.subarray(a, b)));
    const step = this.#sc.feed(buf, 0);
    if (step.error !== undefined) return step;
    let pass = step.used;
    if (this.#trailer !== undefined) pass = 0;
    else if (this.#sc.trailerAt >= 0) {
      this.#trailer = [];
      pass = this.#sc.trailerAt;
    }
    if (pass > 0) out.push(pass === buf.length ? buf : buf.subarray(0, pass));
    const t = this.#trailer;
    if (t === undefined) return step;
    if (step.used > pass) t.push(buf.subarray(pass, step.used));
    if (!step.done) return step;
    const kept = filterTrailers(t.length === 1 ? (t[0] as Buffer) : Buffer.concat(t));
    if (kept === undefined) return { used: step.used, done: false, error: "bad trailer field" };
    out.push(kept);
    return step;
  }
}
