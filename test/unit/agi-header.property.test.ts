import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type AgiHeader,
  HEADER_LIMITS,
  type HeaderError,
  type HeaderLimits,
  HeaderReader,
  lineBytes,
  parseHeader,
} from "../../src/protocols/fastagi/header.ts";

/**
 * A fixed number of runs, and a time bound: a failure found in a large input can take
 * fast-check's shrinking minutes, so both the search and the shrinking stop after 20 s
 * (reporting the smallest failure found so far), and a run cut short fails.
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

/**
 * Properties of the FastAGI header reader and parser. The reader's answer is a function of
 * the byte stream only (never of how TCP split it into reads), and it is checked against a
 * byte-at-a-time model of the limits written from the HeaderReader contract. Headers are
 * generated the way Asterisk writes them (res_agi.c, setup_env(): `name: value\n` once per
 * variable, closed by an empty line) and must read back as written.
 */

type Outcome =
  | { kind: "more" }
  | { kind: "error"; code: HeaderError["code"] }
  | { kind: "done"; header: Buffer; after: Buffer };

/**
 * Feeds `bytes` cut at `cuts` (sorted, deduplicated offsets) and stops at the first answer.
 * `after` is every byte behind the header: the rest of the completing read and all the
 * reads not fed, which is what the session holds for the upstream.
 */
function run(bytes: Buffer, cuts: readonly number[], limits: HeaderLimits = HEADER_LIMITS): Outcome {
  const r = new HeaderReader(limits);
  const bounds = [...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  let from = 0;
  for (const to of bounds) {
    if (to <= from) continue;
    const got = r.push(bytes.subarray(from, to));
    if ("error" in got) return { kind: "error", code: got.error.code };
    if (got.done)
      return { kind: "done", header: got.header, after: Buffer.concat([got.rest, bytes.subarray(to)]) };
    from = to;
  }
  return { kind: "more" };
}

/** Every byte its own read, without building 64 K cut offsets. */
function trickle(bytes: Buffer, limits: HeaderLimits = HEADER_LIMITS): Outcome {
  const r = new HeaderReader(limits);
  for (let i = 0; i < bytes.length; i++) {
    const got = r.push(bytes.subarray(i, i + 1));
    if ("error" in got) return { kind: "error", code: got.error.code };
    if (got.done)
      return { kind: "done", header: got.header, after: Buffer.concat([got.rest, bytes.subarray(i + 1)]) };
  }
  return { kind: "more" };
}

/**
 * The reader's contract, one byte at a time: at stream byte p, a `\n` first closes a line
 * (the empty line ends the header, which must fit in maxBytes; the (maxLines+1)-th other
 * line is too many), then p > maxBytes means too long. So when both limits are crossed at
 * the same byte the line limit wins, and bytes after the empty line are never counted.
 */
function model(bytes: Buffer, limits: HeaderLimits = HEADER_LIMITS): Outcome {
  let lines = 0;
  let lineLen = 0;
  let last = -1;
  for (let i = 0; i < bytes.length; i++) {
    const p = i + 1;
    const b = bytes[i] as number;
    if (b === 0x0a) {
      if (lineLen === 0 || (lineLen === 1 && last === 0x0d)) {
        if (p > limits.maxBytes) return { kind: "error", code: "too_long" };
        return { kind: "done", header: bytes.subarray(0, p), after: bytes.subarray(p) };
      }
      lines++;
      if (lines > limits.maxLines) return { kind: "error", code: "too_many_lines" };
      lineLen = 0;
      last = -1;
    } else {
      lineLen++;
      last = b;
    }
    if (p > limits.maxBytes) return { kind: "error", code: "too_long" };
  }
  return { kind: "more" };
}

// fast-check draws lengths from a "small" size by default (about ten elements whatever
// maxLength says); `size: "max"` makes the whole range up to maxLength reachable.

/** Cut offsets into a buffer of `len` bytes: none, a few, or many. */
const cutsFor = (len: number) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, len - 1) }), {
      maxLength: Math.min(len, 40),
      size: "max",
    })
    .map((a) => a.sort((x, y) => x - y));

/** Bytes with line ends common enough that short inputs reach both limits. */
const lineyBytes = (maxLength: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 2, arbitrary: fc.constant(0x0a) },
        { weight: 1, arbitrary: fc.constant(0x0d) },
        { weight: 6, arbitrary: fc.constant(0x61) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      { maxLength, size: "max" },
    )
    .map((a) => Buffer.from(a));

test("small limits: whole, byte by byte and at random cuts, the reader answers as the byte model does", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(
      fc.record({ maxBytes: fc.integer({ min: 1, max: 48 }), maxLines: fc.integer({ min: 0, max: 6 }) }),
      lineyBytes(100).chain((b) => fc.tuple(fc.constant(b), cutsFor(b.length))),
      (limits, [bytes, cuts]) => {
        const want = model(bytes, limits);
        seen.add(want.kind === "error" ? want.code : want.kind);
        assert.deepEqual(run(bytes, [], limits), want);
        assert.deepEqual(trickle(bytes, limits), want);
        assert.deepEqual(run(bytes, cuts, limits), want);
      },
    ),
    runs(500),
  );
  // The runs reached every answer, both limits included (each comes up dozens of times in 500).
  assert.deepEqual([...seen].sort(), ["done", "more", "too_long", "too_many_lines"]);
});

test("arbitrary bytes at the real limits: whole, byte by byte and at random cuts agree", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600, size: "max" }).map((a) => Buffer.from(a)),
        lineyBytes(600),
      ),
      fc.integer({ min: 1, max: 50 }),
      (bytes, every) => {
        const want = model(bytes);
        assert.deepEqual(run(bytes, []), want);
        assert.deepEqual(trickle(bytes), want);
        const cuts = Array.from({ length: Math.floor(bytes.length / every) }, (_, i) => (i + 1) * every);
        assert.deepEqual(run(bytes, cuts), want);
      },
    ),
    runs(300),
  );
});

/**
 * Streams that cross the real limits: short lines, long runs without a line end, empty
 * lines and CRs, so that 64 KiB and 256 lines are both reached, in either order. Drawn as
 * a short list of pieces (what a failure prints) and turned into bytes in the test.
 */
type Piece =
  | { readonly line: number }
  | { readonly lines: number; readonly len: number }
  | { readonly run: number }
  | { readonly end: "\n" | "\r\n" | "\r" };
const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ line: fc.integer({ min: 1, max: 40 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ lines: fc.integer({ min: 1, max: 300 }), len: fc.integer({ min: 9, max: 60 }) }),
  },
  { weight: 3, arbitrary: fc.record({ run: fc.integer({ min: 1, max: 40_000 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ end: fc.constantFrom("\n" as const, "\r\n" as const, "\r" as const) }),
  },
);
function bytesOf(pieces: readonly Piece[]): Buffer {
  return Buffer.concat(
    pieces.map((p) => {
      if ("line" in p) return Buffer.from(`agi_arg_1: ${"y".repeat(p.line)}\n`);
      if ("lines" in p) return Buffer.from(`agi_x: ${"z".repeat(p.len - 8)}\n`.repeat(p.lines));
      if ("run" in p) return Buffer.alloc(p.run, 0x78);
      return Buffer.from(p.end);
    }),
  );
}
const limitStream = fc.array(piece, { maxLength: 12, size: "max" });

test("streams that cross 64 KiB or 256 lines get the same answer however they are cut", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(limitStream, fc.array(fc.nat(), { maxLength: 40, size: "max" }), (pieces, at) => {
      const bytes = bytesOf(pieces);
      const cuts = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((x, y) => x - y);
      const want = model(bytes);
      seen.add(want.kind === "error" ? want.code : want.kind);
      assert.deepEqual(run(bytes, []), want);
      assert.deepEqual(run(bytes, cuts), want);
    }),
    runs(150),
  );
  // Both limits were crossed, and headers completed, in these runs (each about 1 run in 10 or more).
  for (const kind of ["done", "too_long", "too_many_lines"]) assert.ok(seen.has(kind), kind);
  // Byte by byte costs one push per byte up to the answer (at most 64 KiB + 1): fewer runs.
  fc.assert(
    fc.property(limitStream, (pieces) => {
      const bytes = bytesOf(pieces);
      assert.deepEqual(trickle(bytes), model(bytes));
    }),
    runs(25),
  );
});

/** Names Asterisk writes (setup_env() and launch_netscript()) and any other valid ones. */
const REAL_NAMES = [
  "agi_network",
  "agi_network_script",
  "agi_channel",
  "agi_language",
  "agi_type",
  "agi_uniqueid",
  "agi_version",
  "agi_callerid",
  "agi_calleridname",
  "agi_callingpres",
  "agi_callingani2",
  "agi_callington",
  "agi_callingtns",
  "agi_dnid",
  "agi_rdnis",
  "agi_context",
  "agi_extension",
  "agi_priority",
  "agi_enhanced",
  "agi_accountcode",
  "agi_threadid",
  "agi_arg_1",
  "agi_arg_2",
];
const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
const varName = fc
  .oneof(
    fc.constantFrom(...REAL_NAMES),
    fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 64 }),
  )
  .filter((n) => n !== "agi_request");
/** Value characters: any code point but the control bytes that are not AGI (tab is fine). */
const valueChar = fc.oneof(
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
  fc.constantFrom(" ", "\t", ":", "é", "日", "😀", "\u0085", "\u2028"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => !/[\x00-\x1f\x7f]/.test(c)),
);
const value = fc.string({ unit: valueChar, maxLength: 60, size: "medium" });

interface Generated {
  /** Variables in header order, agi_request among them. */
  readonly vars: readonly (readonly [string, string])[];
  readonly request: string;
  readonly eol: string;
  readonly terminator: string;
  readonly bytes: Buffer;
}

const asteriskHeader = fc
  .record({
    others: fc.uniqueArray(fc.tuple(varName, value), { selector: ([n]) => n, maxLength: 30, size: "max" }),
    requestAt: fc.nat(),
    request: value.map((v) => `agi://${v}`),
    eol: fc.constantFrom("\n", "\r\n"),
    terminator: fc.constantFrom("\n", "\r\n"),
  })
  .map(({ others, requestAt, request, eol, terminator }): Generated => {
    const vars = [...others];
    vars.splice(requestAt % (others.length + 1), 0, ["agi_request", request]);
    const text = vars.map(([n, v]) => `${n}: ${v}${eol}`).join("") + terminator;
    return { vars, request, eol, terminator, bytes: Buffer.from(text, "utf8") };
  });

test("generated Asterisk headers: read whole, byte by byte or cut anywhere, trailing bytes kept", () => {
  fc.assert(
    fc.property(
      asteriskHeader,
      fc.uint8Array({ maxLength: 64, size: "max" }),
      fc.infiniteStream(fc.integer({ min: 1, max: 4096 })),
      (g, trailing, pieceSizes) => {
        const stream = Buffer.concat([g.bytes, trailing]);
        const want: Outcome = { kind: "done", header: g.bytes, after: Buffer.from(trailing) };
        assert.deepEqual(run(stream, []), want);
        assert.deepEqual(trickle(stream), want);
        const cuts: number[] = [];
        // Bounded by the stream length: every piece is at least one byte.
        for (const size of pieceSizes) {
          const next = (cuts.at(-1) ?? 0) + (size % 97) + 1;
          if (next >= stream.length) break;
          cuts.push(next);
        }
        assert.deepEqual(run(stream, cuts), want);
      },
    ),
    runs(300),
  );
});

test("generated Asterisk headers round-trip through parseHeader: variables, request, lines, bytes", () => {
  fc.assert(
    fc.property(asteriskHeader, (g) => {
      const h = parseHeader(g.bytes);
      assert.ok(!("code" in h), "code" in h ? h.message : "");
      assert.equal(h.request, g.request);
      assert.deepEqual([...h.vars], g.vars);
      assert.deepEqual(
        h.lines.map((l) => [l.name, l.value]),
        g.vars,
      );
      assert.equal(h.terminator.toString("latin1"), g.terminator);
      assert.equal(h.raw, g.bytes);
      assert.deepEqual(Buffer.concat([...h.lines.map((l) => lineBytes(h, l)), h.terminator]), g.bytes);
      for (const l of h.lines) {
        assert.equal(g.bytes.toString("utf8", l.valueStart, l.valueEnd), l.value);
        assert.equal(g.bytes.toString("latin1", l.valueEnd, l.end), g.eol);
      }
    }),
    runs(300),
  );
});

test("a generated header with any one variable repeated is invalid, naming that variable", () => {
  fc.assert(
    fc.property(asteriskHeader, fc.nat(), fc.nat(), value, (g, which, where, v) => {
      const [name] = g.vars[which % g.vars.length] as readonly [string, string];
      const lines = g.vars.map(([n, x]) => `${n}: ${x}${g.eol}`);
      lines.splice(where % (lines.length + 1), 0, `${name}: ${v}${g.eol}`);
      const h = parseHeader(Buffer.from(lines.join("") + g.terminator, "utf8"));
      assert.ok("code" in h);
      assert.equal(h.code, "invalid");
      assert.ok(h.message.includes(`"${name}" appears twice`), h.message);
    }),
    runs(200),
  );
});

const ERROR_CODES: readonly string[] = ["too_long", "too_many_lines", "invalid"];

/** A parsed header is self-consistent: its lines and terminator are its bytes, in order. */
function checkParsed(input: Buffer, h: AgiHeader | HeaderError): void {
  if ("code" in h) {
    assert.ok(ERROR_CODES.includes(h.code), h.code);
    assert.equal(typeof h.message, "string");
    assert.ok(h.message.length > 0);
    return;
  }
  assert.equal(h.raw, input);
  assert.equal(typeof h.request, "string");
  assert.equal(h.vars.get("agi_request"), h.request);
  assert.equal(h.vars.size, h.lines.length, "one variable per line");
  assert.deepEqual(Buffer.concat([...h.lines.map((l) => lineBytes(h, l)), h.terminator]), input);
}

/** A valid header with a few bytes replaced, inserted or removed: inputs near the grammar. */
const mutated = fc
  .tuple(
    asteriskHeader,
    fc.array(
      fc.record({
        at: fc.nat(),
        op: fc.constantFrom("set", "insert", "delete"),
        byte: fc.oneof(
          fc.constantFrom(0x0a, 0x0d, 0x3a, 0x20, 0x00, 0xff, 0xc3),
          fc.integer({ min: 0, max: 255 }),
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([g, edits]) => {
    const b = [...g.bytes];
    for (const e of edits) {
      const i = e.at % (b.length + 1);
      if (e.op === "insert") b.splice(i, 0, e.byte);
      else if (i < b.length) {
        if (e.op === "set") b[i] = e.byte;
        else b.splice(i, 1);
      }
    }
    return Buffer.from(b);
  });

test("parseHeader never throws: any bytes give a consistent header or a documented error", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300, size: "max" }).map((a) => Buffer.from(a)),
        lineyBytes(300),
        mutated,
      ),
      (input) => {
        checkParsed(input, parseHeader(input));
      },
    ),
    runs(500),
  );
});

test("whatever the reader completes, parseHeader answers without throwing", () => {
  fc.assert(
    fc.property(fc.oneof(lineyBytes(300), mutated), (input) => {
      const r = run(input, []);
      if (r.kind === "done") checkParsed(r.header, parseHeader(r.header));
      else if (r.kind === "error") assert.ok(ERROR_CODES.includes(r.code));
    }),
    runs(300),
  );
});

/** A valid header of exactly `size` bytes (size ≥ 100), in lines of at most 512 bytes. */
function headerOfSize(size: number): Buffer {
  const lines = ["agi_request: agi://h/x\n"];
  // Minus the request line and the closing empty line.
  let remaining = size - lines[0]!.length - 1;
  for (let n = 1; remaining > 0; n++) {
    let len = Math.min(512, remaining);
    // Leave a last line room for its name, ": " and "\n".
    if (remaining - len > 0 && remaining - len < 32) len = remaining - 32;
    const head = `agi_arg_${n}: `;
    lines.push(`${head}${"x".repeat(len - head.length - 1)}\n`);
    remaining -= len;
  }
  const out = Buffer.from(`${lines.join("")}\n`);
  assert.equal(out.length, size);
  return out;
}

/** Milliseconds to push `bytes` one byte per read, up to the completed header. */
function trickleTime(bytes: Buffer, limits = HEADER_LIMITS): number {
  const reads = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const r = new HeaderReader(limits);
  const t0 = performance.now();
  let last: ReturnType<HeaderReader["push"]> = { done: false };
  for (let i = 0; i < reads.length; i++) {
    last = r.push(reads[i] as Buffer);
    if (last.done || "error" in last) break;
    // Bounded: a quadratic reader fails here in seconds instead of running for minutes.
    if ((i & 4095) === 0 && performance.now() - t0 > 5_000) return Number.POSITIVE_INFINITY;
  }
  const ms = performance.now() - t0;
  assert.ok(last.done, "the header completes");
  assert.equal(last.header.length, bytes.length);
  return ms;
}

test("a 64 KiB header trickled a byte per read costs work linear in its size", () => {
  // Counted, not timed (timings on a busy 2-core machine are noise): the bytes that
  // Buffer.concat copies and that indexOf scans while the reader takes the header one byte
  // per read. A concat or a rescan per read would make them quadratic (about 2 GiB here).
  const bytes = headerOfSize(HEADER_LIMITS.maxBytes);
  const concat = Buffer.concat;
  const indexOf = Buffer.prototype.indexOf;
  let copied = 0;
  let scanned = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  Buffer.prototype.indexOf = function (this: Buffer, value: never, byteOffset?: never, encoding?: never) {
    scanned += this.length - (typeof byteOffset === "number" ? byteOffset : 0);
    return indexOf.call(this, value, byteOffset, encoding);
  } as typeof Buffer.prototype.indexOf;
  let ms: number;
  try {
    ms = trickleTime(bytes);
  } finally {
    Buffer.concat = concat;
    Buffer.prototype.indexOf = indexOf;
  }
  assert.ok(copied <= 2 * bytes.length, `copied ${copied} bytes for a ${bytes.length}-byte header`);
  assert.ok(scanned <= 2 * bytes.length, `scanned ${scanned} bytes for a ${bytes.length}-byte header`);
  assert.ok(ms < 2_000, `took ${ms.toFixed(0)} ms`);
});
