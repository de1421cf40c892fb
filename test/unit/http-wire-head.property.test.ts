import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type HeadResult,
  isHeadError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "../../src/protocols/http/wire/head.ts";

/**
 * Properties of the HTTP/1.x head parsers (RFC 9112): written fields read back as sent (names
 * as they are, values without the optional whitespace around them), wherever the head sits
 * in the buffer and whatever follows it; the body's framing follows the RFC's rules for any
 * mix of Content-Length and Transfer-Encoding; and on any bytes the parsers never throw and
 * say exactly how many bytes a head takes.
 */

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const latin1 = (s: string) => Buffer.from(s, "latin1");
const chars = (codes: fc.Arbitrary<number>, opts: { minLength?: number; maxLength: number }) =>
  fc.string({ unit: codes.map((c) => String.fromCharCode(c)), ...opts });

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 16 });
/** The fields the parser reads for framing and routing; the others it only carries. */
const SPECIAL = new Set(["host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"]);
const plainName = token.filter((n) => !SPECIAL.has(n.toLowerCase()));
const vchar = fc.integer({ min: 0x21, max: 0x7e });
/** Inside a value: visible characters, space, tab, obs-text. */
const inner = fc.oneof(vchar, fc.constantFrom(0x20, 0x09), fc.integer({ min: 0x80, max: 0xff }));
/** A field value: starts and ends with a visible character (or is empty). */
const value = fc.oneof(
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 6, arbitrary: vchar.map((c) => String.fromCharCode(c)) },
  {
    weight: 12,
    arbitrary: fc
      .tuple(vchar, chars(inner, { maxLength: 30 }), vchar)
      .map(([a, mid, b]) => String.fromCharCode(a) + mid + String.fromCharCode(b)),
  },
);
/** A Host value (RFC 3986 §3.2.2): a reg-name or an IPv6 literal, then maybe a port of digits. */
const hostValue = fc
  .tuple(
    fc.oneof(
      fc.string({ unit: fc.constantFrom(..."abcXYZ019.-_~!$&'()*+;=%"), maxLength: 20 }),
      fc
        .string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:."), minLength: 1, maxLength: 20 })
        .map((a) => `[${a}]`),
    ),
    fc.option(fc.string({ unit: fc.constantFrom(..."0123456789"), maxLength: 5 }), { nil: undefined }),
  )
  .map(([h, port]) => (port === undefined ? h : `${h}:${port}`));
const ows = chars(fc.constantFrom(0x20, 0x09), { maxLength: 3 });
const field = fc.record({ name: plainName, value, before: ows, after: ows });
type Field = { name: string; value: string; before: string; after: string };
const fieldLine = (f: Field) => `${f.name}:${f.before}${f.value}${f.after}\r\n`;
/** A request target: visible characters, no space. */
const target = fc.oneof(
  chars(vchar, { minLength: 1, maxLength: 40 }),
  chars(vchar, { maxLength: 40 }).map((t) => `/${t}`),
);

function head<T extends object>(r: HeadResult<T>): T {
  assert.ok(r !== undefined, "the head should be whole");
  if (isHeadError(r)) assert.fail(`unexpected ${r.error}: ${r.reason}`);
  return r;
}

test("request fields read back as written, wherever the head sits and whatever follows", () => {
  fc.assert(
    fc.property(
      token.filter((m) => m !== "CONNECT"),
      target,
      fc.constantFrom(0, 1),
      fc.array(field, { maxLength: 12 }),
      fc.nat(),
      fc.record({ host: hostValue, before: ows, after: ows }),
      fc.uint8Array({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom("", "\r\n", "\r\n\r\n"),
      (method, tgt, minor, fields, hostAt, host, prefix, suffix, lead) => {
        const all: Field[] = [...fields];
        const withHost = minor === 1;
        if (withHost)
          all.splice(hostAt % (fields.length + 1), 0, { name: "Host", value: host.host, ...host });
        const text = `${lead}${method} ${tgt} HTTP/1.${minor}\r\n${all.map(fieldLine).join("")}\r\n`;
        const headBytes = latin1(text);
        const buf = Buffer.concat([prefix, headBytes, suffix]);
        const h: RequestHead = head(parseRequestHead(buf, prefix.length, 1 << 16));
        assert.equal(h.method, method);
        assert.equal(h.target, tgt);
        assert.equal(h.minor, minor);
        assert.deepEqual(
          h.raw,
          all.flatMap((f) => [f.name, f.value]),
        );
        assert.equal(h.host, withHost ? host.host : undefined);
        assert.deepEqual(h.framing, { kind: "none" });
        assert.equal(h.keepAlive, minor === 1);
        assert.equal(h.upgrade, false);
        assert.equal(h.expectContinue, false);
        assert.equal(h.size, headBytes.length);
        // The head alone reads the same, and any shorter prefix is not whole.
        const alone = head(parseRequestHead(headBytes, 0, 1 << 16));
        const facts = (x: RequestHead) => [
          x.method,
          x.target,
          x.minor,
          x.raw,
          x.host,
          x.framing,
          x.keepAlive,
          x.size,
        ];
        assert.deepEqual(facts(alone), facts(h));
        assert.equal(h.start, prefix.length + lead.length);
        assert.equal(h.end, prefix.length + headBytes.length);
        for (const cut of [headBytes.length - 1, headBytes.length - 2, (headBytes.length * 2) >> 2]) {
          assert.equal(parseRequestHead(headBytes.subarray(0, cut), 0, 1 << 16), undefined);
        }
        // One byte under the head's size (its leading empty lines included: they are bytes a
        // client makes us hold) is 431.
        const own = headBytes.length;
        const small = parseRequestHead(buf, prefix.length, own - 1);
        assert.ok(small !== undefined && isHeadError(small) && small.error === 431);
        assert.equal(head(parseRequestHead(buf, prefix.length, own)).size, headBytes.length);
      },
    ),
    runs(300),
  );
});

test("response fields read back as written; framing none or until close", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 100, max: 999 }),
      fc.option(
        chars(fc.oneof(vchar, fc.constant(0x20), fc.integer({ min: 0x80, max: 0xff })), { maxLength: 30 }),
        {
          nil: undefined,
        },
      ),
      fc.constantFrom(0, 1),
      fc.array(field, { maxLength: 12 }),
      fc.constantFrom("GET", "HEAD", "POST"),
      fc.uint8Array({ maxLength: 40 }),
      (status, reason, minor, fields, method, suffix) => {
        const line = `HTTP/1.${minor} ${status}${reason === undefined ? "" : ` ${reason}`}`;
        const headBytes = latin1(`${line}\r\n${fields.map(fieldLine).join("")}\r\n`);
        const r: ResponseHead = head(
          parseResponseHead(Buffer.concat([headBytes, suffix]), 0, 1 << 16, method),
        );
        assert.equal(r.status, status);
        assert.equal(r.reason, reason ?? "");
        assert.equal(r.minor, minor);
        assert.deepEqual(
          r.raw,
          fields.flatMap((f) => [f.name, f.value]),
        );
        assert.equal(r.size, headBytes.length);
        const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
        assert.deepEqual(r.framing, { kind: bodiless ? "none" : "close" });
        assert.equal(r.keepAlive, bodiless && minor === 1);
      },
    ),
    runs(300),
  );
});

// --- Framing: any mix of Content-Length and Transfer-Encoding fields, against the RFC's rules. ---

const CL_VALUES = [
  "0",
  "5",
  "05",
  "5, 5",
  "5,5",
  "7",
  "abc",
  "",
  "-1",
  "1234567890123456",
  "123456789012345",
];
const TE_VALUES = [
  "chunked",
  "Chunked",
  "gzip",
  "gzip, chunked",
  "chunked, gzip",
  "identity",
  "",
  "gzip,chunked",
];
const framingField = fc.oneof(
  fc.tuple(fc.constantFrom("Content-Length", "content-length"), fc.constantFrom(...CL_VALUES)),
  fc.tuple(fc.constantFrom("Transfer-Encoding", "TRANSFER-encoding"), fc.constantFrom(...TE_VALUES)),
);

type Model =
  | { error: 400 | 501 }
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * RFC 9112 §6.1–§6.3 as this parser is meant to apply them: Content-Length values must be
 * equal digit strings; with Transfer-Encoding, no Content-Length; chunked once and last.
 */
function model(fields: [string, string][], isRequest: boolean): Model {
  const cls = fields.filter(([n]) => n.toLowerCase() === "content-length").flatMap(([, v]) => v.split(","));
  const tes = fields.filter(([n]) => n.toLowerCase() === "transfer-encoding").map(([, v]) => v);
  const items = cls.map((v) => v.trim());
  if (items.some((v) => !/^\d{1,15}$/.test(v)) || new Set(items).size > 1) return { error: 400 };
  if (tes.length > 0) {
    if (items.length > 0) return { error: 400 };
    const codings = tes
      .join(",")
      .split(",")
      .map((c) => c.trim().toLowerCase())
      .filter((c) => c !== ""); // empty list items are ignored (RFC 9110 §5.6.1)
    const chunked = codings.filter((c) => c === "chunked").length;
    const known = ["gzip", "deflate", "compress", "x-gzip", "x-compress"];
    if (chunked === 1 && codings.at(-1) === "chunked")
      return isRequest && codings.slice(0, -1).some((c) => !known.includes(c))
        ? { error: 501 }
        : { kind: "chunked" };
    if (chunked > 0) return { error: 400 };
    return isRequest ? { error: 400 } : { kind: "close" };
  }
  if (items.length > 0) {
    const n = Number(items[0]);
    return n === 0 ? { kind: "none" } : { kind: "length", length: n };
  }
  return isRequest ? { kind: "none" } : { kind: "close" };
}

test("request framing from any mix of Content-Length and Transfer-Encoding", () => {
  fc.assert(
    fc.property(fc.array(framingField, { maxLength: 4 }), fc.constantFrom(0, 1), (fields, minor) => {
      const text = `POST / HTTP/1.${minor}\r\nHost: a\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
      const r = parseRequestHead(latin1(text), 0, 1 << 16);
      assert.ok(r !== undefined);
      let want = model(fields, true);
      if ("kind" in want && want.kind === "chunked" && minor === 0) want = { error: 400 };
      if ("error" in want) {
        assert.ok(
          isHeadError(r),
          `expected ${want.error} for ${JSON.stringify(fields)}, got ${JSON.stringify(r)}`,
        );
        assert.equal(r.error, want.error, JSON.stringify(fields));
      } else {
        assert.ok(
          !isHeadError(r),
          `expected ${JSON.stringify(want)} for ${JSON.stringify(fields)}: ${JSON.stringify(r)}`,
        );
        assert.deepEqual(r.framing, want);
      }
    }),
    runs(300),
  );
});

test("response framing from any mix of Content-Length and Transfer-Encoding, status and method", () => {
  fc.assert(
    fc.property(
      fc.array(framingField, { maxLength: 4 }),
      fc.constantFrom(100, 101, 200, 204, 206, 304, 404, 500),
      fc.constantFrom("GET", "HEAD"),
      fc.constantFrom(0, 1),
      fc.constantFrom("", "Connection: close\r\n", "Connection: keep-alive\r\n"),
      (fields, status, method, minor, connection) => {
        const text = `HTTP/1.${minor} ${status} X\r\n${connection}${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
        const r = parseResponseHead(latin1(text), 0, 1 << 16, method);
        assert.ok(r !== undefined);
        const want = model(fields, false);
        if ("error" in want) {
          assert.ok(isHeadError(r), `expected 400 for ${JSON.stringify(fields)}, got ${JSON.stringify(r)}`);
          assert.equal(r.error, 400);
          return;
        }
        assert.ok(!isHeadError(r), JSON.stringify(r));
        const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
        const framing = bodiless ? { kind: "none" } : want;
        assert.deepEqual(r.framing, framing, JSON.stringify(fields));
        // An HTTP/1.0 answer with Transfer-Encoding and a body has faulty framing: never reused (RFC 9112 §6.1).
        const te = fields.some(([n]) => n.toLowerCase() === "transfer-encoding");
        const persistent =
          minor === 1
            ? !connection.includes("close")
            : connection.includes("keep-alive") && (bodiless || !te);
        assert.equal(r.keepAlive, framing.kind !== "close" && persistent);
      },
    ),
    runs(300),
  );
});

// --- Any bytes. ---

const headish = fc
  .array(
    fc.constantFrom(
      "GET",
      "POST",
      "CONNECT",
      "HTTP/1.1",
      "HTTP/1.0",
      "HTTP/2.0",
      "HTTP/1.1 200 OK",
      "HTTP/1.0 304",
      " ",
      "/",
      "\r\n",
      "\r\n\r\n",
      "\r",
      "\n",
      ":",
      ": ",
      ",",
      "\t",
      "Host",
      "Content-Length",
      "Transfer-Encoding",
      "chunked",
      "gzip",
      "5",
      "0",
      "Connection",
      "close",
      "keep-alive",
      "upgrade",
      "Upgrade",
      "Expect",
      "100-continue",
      "x",
      "\x00",
      "\x7f",
      "\xa0",
      "\xff",
    ),
    { maxLength: 40 },
  )
  .map((parts) => latin1(parts.join("")));
const anyBytes = fc.oneof(
  headish,
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
);

test("random bytes never throw: undefined, an error with a status, or a head no longer than the input", () => {
  fc.assert(
    fc.property(
      anyBytes,
      fc.nat({ max: 40 }),
      fc.integer({ min: 0, max: 400 }),
      fc.constantFrom("GET", "HEAD", "POST"),
      (buf, s, max, method) => {
        const start = Math.min(s, buf.length);
        const req = parseRequestHead(buf, start, max);
        if (req !== undefined) {
          if (isHeadError(req)) assert.ok([400, 431, 501, 505].includes(req.error), JSON.stringify(req));
          else {
            assert.ok(req.size > 0 && req.size <= buf.length - start);
            assert.equal(req.raw.length % 2, 0);
            assert.ok([0, 1].includes(req.minor));
          }
        }
        const res = parseResponseHead(buf, start, max, method);
        if (res !== undefined) {
          if (isHeadError(res)) assert.ok([400, 431].includes(res.error), JSON.stringify(res));
          else {
            assert.ok(res.size > 0 && res.size <= buf.length - start);
            assert.ok(res.status >= 100 && res.status <= 999);
            assert.equal(res.raw.length % 2, 0);
          }
        }
      },
    ),
    runs(300),
  );
});

/**
 * What a parse says, without the buffer it read (a head keeps offsets into that buffer); of an
 * error, its status (the reason names the first fault seen, which more bytes may change).
 */
function readAs(r: object | undefined): unknown {
  if (r === undefined) return r;
  if ("error" in r) return { error: (r as { error: number }).error };
  const { bytes: _bytes, at: _at, start: _start, end: _end, ...rest } = r as Record<string, unknown>;
  return { ...rest, raw: (r as { raw: string[] }).raw };
}

test("on any bytes, a head's size is exact: its bytes alone read the same, one fewer is not whole", () => {
  const big = 1 << 16;
  fc.assert(
    fc.property(anyBytes, (buf) => {
      const req = parseRequestHead(buf, 0, big);
      if (req !== undefined && !isHeadError(req)) {
        assert.deepEqual(readAs(parseRequestHead(buf.subarray(0, req.size), 0, big)), readAs(req));
        assert.equal(parseRequestHead(buf.subarray(0, req.size - 1), 0, big), undefined);
      }
      for (const method of ["GET", "HEAD"]) {
        const res = parseResponseHead(buf, 0, big, method);
        if (res !== undefined && !isHeadError(res)) {
          assert.deepEqual(readAs(parseResponseHead(buf.subarray(0, res.size), 0, big, method)), readAs(res));
          assert.equal(parseResponseHead(buf.subarray(0, res.size - 1), 0, big, method), undefined);
        }
      }
      // Whatever the outcome, it depends only on the bytes up to the head's end.
      const more = Buffer.concat([buf, latin1("GET / HTTP/1.1\r\nHost: a\r\n\r\n")]);
      if (req !== undefined) assert.deepEqual(readAs(parseRequestHead(more, 0, big)), readAs(req));
    }),
    runs(300),
  );
});
