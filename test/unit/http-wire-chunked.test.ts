import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkedScanner, type ChunkStep } from "../../src/protocols/http/wire/chunked.ts";

/**
 * A chunked body (RFC 9112 §7.1) followed byte by byte: which bytes are data, where the body
 * ends (the bytes after it belong to the next message), and which bodies are refused.
 */

const bytes = (s: string) => Buffer.from(s, "latin1");

interface Scan {
  /** The data bytes, joined. */
  data: string;
  /** Bytes of the input used by the body, over all feeds (up to the error, if any). */
  used: number;
  done: boolean;
  error: string | undefined;
  /** `done` after each feed. */
  doneAfter: boolean[];
}

/** Feeds `input` cut at `cuts` (each piece its own Buffer) to one scanner. */
function scan(input: string | Buffer, cuts: readonly number[] = [], maxLine?: number): Scan {
  const buf = typeof input === "string" ? bytes(input) : input;
  const sc = maxLine === undefined ? new ChunkedScanner() : new ChunkedScanner(maxLine);
  const bounds = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
  bounds.push(buf.length);
  const parts: Buffer[] = [];
  let used = 0;
  let from = 0;
  let last: ChunkStep = { used: 0, done: false, error: undefined };
  const doneAfter: boolean[] = [];
  for (const to of bounds) {
    const piece = buf.subarray(from, to);
    let prev = -1;
    last = sc.feed(piece, 0, (a, b) => {
      assert.ok(a >= 0 && a < b && b <= piece.length, `span ${a}..${b} of ${piece.length}`);
      assert.ok(a >= prev, "spans in order");
      prev = b;
      parts.push(piece.subarray(a, b));
    });
    assert.ok(last.used >= 0 && last.used <= piece.length);
    assert.equal(last.done, sc.done);
    doneAfter.push(last.done);
    used += last.used;
    if (last.error !== undefined || last.done) break;
    assert.equal(last.used, piece.length, "a body not yet done uses every byte given");
    from = to;
  }
  return {
    data: Buffer.concat(parts).toString("latin1"),
    used,
    done: last.done,
    error: last.error,
    doneAfter,
  };
}

/** The result of scanning whole must be the result of scanning at every split point and byte by byte. */
function scanEverySplit(input: string, maxLine?: number): Scan {
  const whole = scan(input, [], maxLine);
  for (let cut = 1; cut < input.length; cut++) {
    const s = scan(input, [cut], maxLine);
    assert.equal(s.data, whole.data, `data, cut at ${cut}`);
    assert.equal(s.used, whole.used, `used, cut at ${cut}`);
    assert.equal(s.done, whole.done, `done, cut at ${cut}`);
    assert.equal(s.error, whole.error, `error, cut at ${cut}`);
  }
  const one = scan(
    input,
    Array.from({ length: input.length }, (_, i) => i),
    maxLine,
  );
  assert.deepEqual({ ...one, doneAfter: [] }, { ...whole, doneAfter: [] });
  return whole;
}

function ok(input: string, data: string, used = input.length, maxLine?: number): void {
  const s = scanEverySplit(input, maxLine);
  assert.equal(s.error, undefined, JSON.stringify(input));
  assert.equal(s.done, true, JSON.stringify(input));
  assert.equal(s.data, data);
  assert.equal(s.used, used);
}

/** An error, at the same byte however the body was split; `at`: index of the refused byte. */
function bad(input: string, at?: number, maxLine?: number): string {
  const s = scanEverySplit(input, maxLine);
  assert.notEqual(s.error, undefined, `expected an error for ${JSON.stringify(input)}`);
  assert.equal(s.done, false);
  if (at !== undefined) assert.equal(s.used, at, `error position for ${JSON.stringify(input)}`);
  return s.error as string;
}

test("a body of chunks: the data alone, every byte used, done at the end", () => {
  ok("5\r\nhello\r\n0\r\n\r\n", "hello");
  ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
  ok("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", "abc");
  ok("0\r\n\r\n", "");
  // Data may hold anything, CRLFs and chunk-looking bytes included.
  ok("7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n", "\r\n0\r\n\r\n");
  ok("3\r\n\x00\xff\n\r\n0\r\n\r\n", "\x00\xff\n");
});

test("the same body split at every byte position, or byte by byte, gives the same data and used", () => {
  // (scanEverySplit checks every split of each body below.)
  ok(
    "a\r\n0123456789\r\n10\r\nabcdefghijklmnop\r\n0;x=1\r\nTrailer: v\r\n\r\n",
    "0123456789abcdefghijklmnop",
  );
});

test("sizes in upper and lower case hex, with leading zeros", () => {
  const ten = "0123456789";
  ok(`a\r\n${ten}\r\n0\r\n\r\n`, ten);
  ok(`A\r\n${ten}\r\n0\r\n\r\n`, ten);
  ok(`00000a\r\n${ten}\r\n0\r\n\r\n`, ten);
  const big = "x".repeat(0x1f);
  ok(`1f\r\n${big}\r\n0\r\n\r\n`, big);
  ok(`1F\r\n${big}\r\n0\r\n\r\n`, big);
  ok(`1F\r\n${big}\r\n1f\r\n${big}\r\n000\r\n\r\n`, big + big);
  const large = Buffer.alloc(0xabcd, 0x61);
  const body = Buffer.concat([bytes("aBcD\r\n"), large, bytes("\r\n0\r\n\r\n")]);
  const s = scan(body, [3, 100, 0x1000, 0xabcd]);
  assert.equal(s.done, true);
  assert.equal(s.data.length, 0xabcd);
  assert.equal(s.used, body.length);
});

test("a size of 13 hex digits is read (exact in a double); 14 digits are refused", () => {
  const s = scan("000000000000f\r\n");
  assert.equal(s.error, undefined);
  assert.equal(s.done, false);
  const big = scan("fffffffffffff\r\nabc"); // 13 digits, 2^52 - 1: data goes on
  assert.equal(big.error, undefined);
  assert.equal(big.data, "abc");
  assert.match(bad("00000000000005\r\nhello\r\n0\r\n\r\n", 13), /13 hex digits/);
  bad("10000000000000\r\n", 13);
});

test("chunk extensions are skipped, on data chunks and on the last chunk", () => {
  ok("5;name=value\r\nhello\r\n0\r\n\r\n", "hello");
  ok('5;a;b="quoted ; value"\r\nhello\r\n0\r\n\r\n', "hello");
  ok("5 ;a=1\r\nhello\r\n0\r\n\r\n", "hello");
  ok("5\t;a=1\r\nhello\r\n0\r\n\r\n", "hello");
  ok("5;a=1\r\nhello\r\n3;b\r\nabc\r\n0;last=yes\r\n\r\n", "helloabc");
  ok("0;a=b\r\n\r\n", "");
});

test("trailer fields after the last chunk are used, not data", () => {
  ok("5\r\nhello\r\n0\r\nX-Sum: abc\r\n\r\n", "hello");
  ok("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other:\tdef\r\n\r\n", "hello");
  ok("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "");
});

test("the bytes after the end are not used: the next message follows", () => {
  const body = "5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
  const next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  ok(body + next, "hello", body.length);
  ok(body + "0\r\n\r\n", "hello", body.length);
  // In one buffer: used stops at the end, and a feed after the end uses nothing.
  const sc = new ChunkedScanner();
  const buf = bytes(body + next);
  const step = sc.feed(buf, 0);
  assert.deepEqual(step, { used: body.length, done: true, error: undefined });
  assert.equal(sc.done, true);
  assert.deepEqual(sc.feed(buf, body.length), { used: 0, done: true, error: undefined });
  assert.deepEqual(sc.feed(bytes("5\r\nhello\r\n"), 0), { used: 0, done: true, error: undefined });
});

test("`start` and the data spans are indices into the buffer given", () => {
  const prefix = "HEAD BYTES ";
  const body = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const buf = bytes(prefix + body + "rest");
  const spans: [number, number][] = [];
  const sc = new ChunkedScanner();
  const step = sc.feed(buf, prefix.length, (a, b) => spans.push([a, b]));
  assert.deepEqual(step, { used: body.length, done: true, error: undefined });
  const at = prefix.length;
  assert.deepEqual(spans, [
    [at + 3, at + 6],
    [at + 11, at + 13],
  ]);
  assert.deepEqual(
    spans.map(([a, b]) => buf.toString("latin1", a, b)),
    ["abc", "de"],
  );
});

test("a chunk's data cut across feeds comes in pieces, in order; no callback is fine", () => {
  const sc = new ChunkedScanner();
  const got: string[] = [];
  const on = (buf: Buffer) => (a: number, b: number) => got.push(buf.toString("latin1", a, b));
  const p1 = bytes("a\r\n0123");
  const p2 = bytes("456");
  const p3 = bytes("789\r\n0\r\n\r\n");
  assert.deepEqual(sc.feed(p1, 0, on(p1)), { used: p1.length, done: false, error: undefined });
  assert.deepEqual(sc.feed(p2, 0, on(p2)), { used: 3, done: false, error: undefined });
  assert.deepEqual(sc.feed(p3, 0, on(p3)), { used: p3.length, done: true, error: undefined });
  assert.deepEqual(got, ["0123", "456", "789"]);
  const quiet = new ChunkedScanner();
  assert.deepEqual(quiet.feed(bytes("3\r\nabc\r\n0\r\n\r\n"), 0), { used: 13, done: true, error: undefined });
  // An empty feed changes nothing.
  const idle = new ChunkedScanner();
  assert.deepEqual(idle.feed(Buffer.alloc(0), 0), { used: 0, done: false, error: undefined });
  assert.equal(idle.done, false);
});

test("no CRLF after chunk data: an error at the byte that should have been CR or LF", () => {
  assert.match(bad("5\r\nhelloX\r\n0\r\n\r\n", 8), /CRLF after chunk data/);
  bad("5\r\nhello\n0\r\n\r\n", 8);
  bad("5\r\nhello\rX0\r\n\r\n", 9);
  bad("5\r\nhello!\r\n0\r\n\r\n", 8);
  bad("3\r\nhello\r\n0\r\n\r\n", 6);
  bad("5\r\nhello\r\r\n0\r\n\r\n", 9);
});

test("chunk sizes that are not hex, missing, signed or prefixed are refused", () => {
  assert.match(bad("g\r\n", 0), /no chunk size/);
  bad("\r\n0\r\n\r\n", 0);
  bad(";ext\r\n", 0);
  bad(" 5\r\nhello\r\n0\r\n\r\n", 0);
  bad("-5\r\n", 0);
  bad("+5\r\n", 0);
  assert.match(bad("0x5\r\n", 1), /bad byte after the chunk size/);
  bad("5g\r\n", 1);
  bad("5,6\r\n", 1);
  bad("5\x00\r\n", 1);
  // After a chunk, the next size is read with the same rules.
  bad("1\r\na\r\nz\r\n", 6);
  bad("1\r\na\r\n\r\n", 6);
});

test("LF-only line ends are refused: after a size, an extension, the last chunk, a trailer", () => {
  bad("5\nhello\r\n0\r\n\r\n", 1);
  bad("5;a=1\nhello\r\n0\r\n\r\n", 5);
  bad("5\r\nhello\r\n0\n\r\n", 11);
  bad("5\r\nhello\r\n0\r\n\n", 13);
  bad("0\r\nX: y\n\r\n", 7);
  bad("0\r\nX: y\r\n\n", 9);
  // A CR not followed by LF, too.
  bad("5\rhello\r\n0\r\n\r\n", 2);
  bad("0\r\n\r\r", 4);
  bad("0\r\nX: y\rZ\r\n\r\n", 8);
});

test("an extension or a trailer section longer than maxLine is refused; maxLine itself is fine", () => {
  const max = 8;
  // The extension's bytes after the size are counted, its ";" not.
  ok(`5;${"e".repeat(max)}\r\nhello\r\n0\r\n\r\n`, "hello", undefined, max);
  assert.match(bad(`5;${"e".repeat(max + 1)}\r\nhello\r\n0\r\n\r\n`, 2 + max, max), /chunk extension/);
  // The bound is per chunk line, not per body.
  const ext = `;${"e".repeat(max)}`;
  ok(`1${ext}\r\na\r\n1${ext}\r\nb\r\n0${ext}\r\n\r\n`, "ab", undefined, max);
  // The trailer section counts its bytes (not its line ends), over all its lines.
  ok("0\r\nA: 12\r\nB:3\r\n\r\n", "", undefined, max);
  assert.match(bad("0\r\nA: 12\r\nB:34\r\n\r\n", 13, max), /trailer/);
  bad(`0\r\n${"T".repeat(max + 1)}\r\n\r\n`, 3 + max, max);
  // The default bound is generous, but a bound.
  const atDefault = scan(`5;${"e".repeat(16 * 1024)}\r\nhello\r\n0\r\n\r\n`, [7, 5000]);
  assert.equal(atDefault.error, undefined);
  assert.equal(atDefault.data, "hello");
  const long = scan(`5;${"e".repeat(16 * 1024 + 10)}\r\nhello\r\n0\r\n\r\n`);
  assert.match(long.error ?? "", /chunk extension/);
  assert.equal(long.used, 2 + 16 * 1024);
});

test("trailer lines: obs-fold and control bytes are refused", () => {
  bad("0\r\n X: y\r\n\r\n", 3);
  bad("0\r\n\tX: y\r\n\r\n", 3);
  bad("0\r\nA: 1\r\n folded\r\n\r\n", 9);
  bad("0\r\nX: a\x00b\r\n\r\n", 7);
  bad("0\r\nX: a\x1fb\r\n\r\n", 7);
  ok("0\r\nX: a\tb\r\n\r\n", "");
});

test("an error leaves the scanner not done", () => {
  const sc = new ChunkedScanner();
  const step = sc.feed(bytes("5\r\nhelloXX"), 0);
  assert.equal(step.done, false);
  assert.notEqual(step.error, undefined);
  assert.equal(step.used, 8);
  assert.equal(sc.done, false);
});

test("whitespace after a chunk size is allowed only before an extension", () => {
  bad("5 6\r\nhello\r\n0\r\n\r\n");
  bad("5 \r\nhello\r\n0\r\n\r\n");
  bad("5\t\r\nhello\r\n0\r\n\r\n");
  ok("5 \t;x=1\r\nhello\r\n0\r\n\r\n", "hello");
});

test("control bytes in an extension or a trailer are refused", () => {
  bad("5;\x00\x7f\r\nhello\r\n0\r\n\r\n");
  bad("5\r\nhello\r\n0\r\nX-T: a\x7fb\r\n\r\n");
});
