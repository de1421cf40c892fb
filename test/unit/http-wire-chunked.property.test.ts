import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ChunkedScanner } from "../../src/protocols/http/wire/chunked.ts";

/**
 * Properties of the chunked body scanner (RFC 9112 §7.1): what a chunked encoder writes,
 * however it is chunked and however the bytes arrive, scans back to the same data and ends
 * exactly at the body's last byte; and on any bytes the outcome does not depend on how they
 * were split, and the scanner never throws.
 */

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const latin1 = (s: string) => Buffer.from(s, "latin1");

interface Outcome {
  data: Buffer;
  used: number;
  done: boolean;
  error: string | undefined;
}

/**
 * Feeds `buf` to one scanner, cut at `cuts`. `offsets`: instead of a new Buffer for each
 * piece, the whole buffer so far with `start` at the piece (spans are then absolute).
 */
function feed(buf: Buffer, cuts: readonly number[], offsets: boolean, maxLine?: number): Outcome {
  const sc = maxLine === undefined ? new ChunkedScanner() : new ChunkedScanner(maxLine);
  const bounds = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
  bounds.push(buf.length);
  const data: Buffer[] = [];
  let used = 0;
  let from = 0;
  for (const to of bounds) {
    const view = offsets ? buf.subarray(0, to) : buf.subarray(from, to);
    const start = offsets ? from : 0;
    const step = sc.feed(view, start, (a, b) => {
      assert.ok(start <= a && a < b && b <= view.length);
      data.push(view.subarray(a, b));
    });
    assert.ok(step.used >= 0 && step.used <= to - from);
    assert.equal(step.done, sc.done);
    if (step.error !== undefined) assert.equal(step.done, false);
    used += step.used;
    if (step.error !== undefined || step.done) {
      return { data: Buffer.concat(data), used, done: step.done, error: step.error };
    }
    assert.equal(step.used, to - from);
    from = to;
  }
  return { data: Buffer.concat(data), used, done: false, error: undefined };
}

// --- A chunked encoder, with the freedom RFC 9112 §7.1 gives a sender. ---

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 8 });
/** A chunk extension: `;name`, `;name=token` or `;name="quoted string"`, with BWS around the ";". */
const extension = fc
  .tuple(
    fc.constantFrom("", " ", "\t", "  "),
    token,
    fc.option(
      fc.oneof(
        token,
        token.map((t) => `"${t} ;,${t}"`),
      ),
      { nil: undefined },
    ),
  )
  .map(([bws, name, value]) => `${bws};${name}${value === undefined ? "" : `=${value}`}`);
const extensions = fc.array(extension, { maxLength: 2 }).map((e) => e.join(""));
/** A trailer field line: a token name, visible characters. */
const trailer = fc
  .tuple(
    token,
    fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 20,
    }),
  )
  .map(([name, value]) => `${name}: ${value}`);

interface Encoding {
  body: Uint8Array;
  /** Where the data is cut into chunks. */
  chunkCuts: number[];
  /** Per chunk (and the last chunk): extensions, leading zeros, upper case hex. */
  exts: string[];
  zeros: number[];
  upper: boolean[];
  trailers: string[];
}

const encoding: fc.Arbitrary<Encoding> = fc.uint8Array({ maxLength: 600, size: "max" }).chain((body) =>
  fc.record({
    body: fc.constant(body),
    chunkCuts: fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 12 }),
    exts: fc.array(fc.oneof(fc.constant(""), extensions), { minLength: 14, maxLength: 14 }),
    zeros: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 14, maxLength: 14 }),
    upper: fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }),
    trailers: fc.array(trailer, { maxLength: 3 }),
  }),
);

/** The encoded body, and where each CRLF after a chunk's data sits. */
function encodeWithMarks(e: Encoding): { body: Buffer; dataEnds: number[] } {
  const cuts = [...new Set([0, ...e.chunkCuts, e.body.length])].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  const sizeLine = (n: number, i: number) => {
    const hex = n.toString(16);
    const cased = e.upper[i] ? hex.toUpperCase() : hex;
    return latin1(`${"0".repeat(e.zeros[i] ?? 0)}${cased}${e.exts[i] ?? ""}\r\n`);
  };
  const dataEnds: number[] = [];
  let at = 0;
  const push = (...bs: Buffer[]) => {
    parts.push(...bs);
    for (const x of bs) at += x.length;
  };
  let i = 0;
  for (let k = 1; k < cuts.length; k++) {
    const a = cuts[k - 1] as number;
    const b = cuts[k] as number;
    if (b === a) continue;
    push(sizeLine(b - a, i++), Buffer.from(e.body.subarray(a, b)));
    dataEnds.push(at);
    push(latin1("\r\n"));
  }
  push(sizeLine(0, i), latin1(e.trailers.map((t) => `${t}\r\n`).join("")), latin1("\r\n"));
  return { body: Buffer.concat(parts), dataEnds };
}

const encode = (e: Encoding): Buffer => encodeWithMarks(e).body;

test("encoded then scanned with random splits: the same data, done exactly at the end", () => {
  fc.assert(
    fc.property(
      encoding,
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.boolean(),
      (enc, next, rawCuts, offsets) => {
        const body = encode(enc);
        const stream = Buffer.concat([body, next]);
        const cuts = rawCuts.map((c) => c % (stream.length + 1));
        const r = feed(stream, cuts, offsets);
        assert.equal(r.error, undefined);
        assert.equal(r.done, true);
        assert.equal(r.used, body.length);
        assert.deepEqual(r.data, Buffer.from(enc.body));
      },
    ),
    runs(300),
  );
});

test("`done` only once the body's last byte has been fed", () => {
  fc.assert(
    fc.property(encoding, fc.integer({ min: 1, max: 64 }), (enc, step) => {
      const body = encode(enc);
      const sc = new ChunkedScanner();
      for (let from = 0; from < body.length; from += step) {
        const to = Math.min(from + step, body.length);
        const r = sc.feed(body.subarray(from, to), 0);
        assert.equal(r.error, undefined);
        assert.equal(r.used, to - from);
        assert.equal(r.done, to === body.length, `done after byte ${to} of ${body.length}`);
      }
      assert.equal(sc.done, true);
    }),
    runs(200),
  );
});

test("a body cut short is never done and uses all it is given", () => {
  fc.assert(
    fc.property(encoding, fc.nat(), (enc, c) => {
      const body = encode(enc);
      const cut = c % body.length; // body.length >= 5
      const r = feed(body.subarray(0, cut), [], false);
      assert.equal(r.error, undefined);
      assert.equal(r.done, false);
      assert.equal(r.used, cut);
      assert.ok(r.data.length <= enc.body.length);
      assert.deepEqual(r.data, Buffer.from(enc.body.subarray(0, r.data.length)));
    }),
    runs(200),
  );
});

test("a chunk's data not followed by CRLF is an error at that byte, however the bytes arrive", () => {
  fc.assert(
    fc.property(
      encoding.filter((e) => e.body.length > 0),
      fc.nat(),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (enc, which, second, byte, rawCuts) => {
        const { body, dataEnds } = encodeWithMarks(enc);
        const pos = (dataEnds[which % dataEnds.length] as number) + (second ? 1 : 0);
        const want = second ? 0x0a : 0x0d;
        fc.pre(byte !== want);
        const broken = Buffer.from(body);
        broken[pos] = byte;
        const r = feed(
          broken,
          rawCuts.map((c) => c % (broken.length + 1)),
          false,
        );
        assert.match(r.error ?? "", /CRLF after chunk data/);
        assert.equal(r.used, pos);
        assert.equal(r.done, false);
      },
    ),
    runs(200),
  );
});

/** Bytes that look like chunked bodies, often broken ones. */
const chunkish = fc
  .array(
    fc.constantFrom(
      "0",
      "1",
      "5",
      "a",
      "F",
      "g",
      "\r\n",
      "\r",
      "\n",
      ";",
      ";x=1",
      " ",
      "\t",
      ":",
      "X: y",
      "hello",
      "\x00",
      "\xff",
      "0\r\n\r\n",
      "5\r\nhello\r\n",
    ),
    { maxLength: 30 },
  )
  .map((parts) => latin1(parts.join("")));

test("on any bytes, the outcome does not depend on the splits", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        chunkish,
        fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
      ),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.boolean(),
      fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
      (buf, rawCuts, offsets, maxLine) => {
        const whole = feed(buf, [], false, maxLine);
        const split = feed(
          buf,
          rawCuts.map((c) => c % (buf.length + 1)),
          offsets,
          maxLine,
        );
        assert.deepEqual(split, whole);
        assert.ok(whole.used <= buf.length);
        if (!whole.done && whole.error === undefined) assert.equal(whole.used, buf.length);
      },
    ),
    runs(300),
  );
});

test("the scanner never throws, whatever the bytes and start", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.nat({ max: 320 }),
      fc.integer({ min: 0, max: 64 }),
      (u, start, maxLine) => {
        const buf = Buffer.from(u);
        const step = new ChunkedScanner(maxLine).feed(buf, start, (a, b) => {
          assert.ok(start <= a && a < b && b <= buf.length);
        });
        assert.ok(step.used >= 0 && step.used <= Math.max(0, buf.length - start));
        if (step.error !== undefined) assert.equal(step.done, false);
      },
    ),
    runs(300),
  );
});
