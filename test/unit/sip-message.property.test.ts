import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseCSeq, parseNameAddr } from "../../src/protocols/sip/fields.ts";
import { SipStreamFramer } from "../../src/protocols/sip/framer.ts";
import {
  canonicalName,
  firstTopLevel,
  headerValues,
  splitTopLevel,
} from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { parseParams } from "../../src/protocols/sip/params.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipHeader, SipMessage } from "../../src/protocols/sip/types.ts";
import { parseVia } from "../../src/protocols/sip/via.ts";
import { INVITE_SIPP, OK_200, OPTIONS } from "../fixtures/sip/samples.ts";

/**
 * Properties of the SIP parser: what the serializer writes parses back to the same message,
 * and no input (random bytes, or a valid message mutated) makes any function throw. Sizes and
 * run counts are bounded, and a run is cut after 20 s (a cut run fails).
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const ERROR_CODES = new Set([
  "bad_start_line",
  "bad_version",
  "truncated",
  "bad_header_line",
  "too_large",
  "too_many_headers",
  "header_too_large",
  "missing_header",
  "bad_cseq",
  "bad_call_id",
  "duplicate_header",
  "bad_content_length",
  "missing_content_length",
  "header_section_too_large",
  "body_too_large",
]);

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~".split("");
const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
/** One-line text without leading or trailing whitespace (the parser trims values). */
const text = (maxLength: number) =>
  fc
    .string({
      unit: fc.oneof(
        fc.constantFrom(...' ,;<>"\\:=@'),
        fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        fc.constantFrom("é", "日", "📞"),
      ),
      maxLength,
    })
    .map((s) => s.replace(/[\x00-\x1f\x7f]/g, "").trim());

const header = (name: fc.Arbitrary<string>, value: fc.Arbitrary<string>) =>
  fc
    .tuple(name, value)
    .map(([rawName, v]): SipHeader => ({ name: canonicalName(rawName), rawName, value: v }));

const extraHeader = header(
  // One each of the single-valued headers (a second Call-ID, From, To or Max-Forwards is refused).
  token.filter(
    (n) => !["content-length", "cseq", "call-id", "from", "to", "max-forwards"].includes(canonicalName(n)),
  ),
  text(60),
);

const messageArb: fc.Arbitrary<SipMessage> = fc
  .record({
    method: token,
    uri: text(40).map((u) => `sip:${u.replace(/\s/g, "")}`),
    status: fc.integer({ min: 100, max: 699 }),
    reason: text(30),
    request: fc.boolean(),
    seq: fc.nat({ max: 0xffffffff }),
    mandatory: fc.tuple(
      ...["Via", "From", "To"].map((n) => header(fc.constantFrom(n, n.toLowerCase()), text(60))),
      // callid = word ["@" word] (§25.1)
      header(
        fc.constantFrom("Call-ID", "call-id", "i"),
        fc.tuple(token, fc.option(token)).map(([a, b]) => (b === null ? a : `${a}@${b}`)),
      ),
    ),
    extras: fc.array(extraHeader, { maxLength: 12 }),
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  })
  .chain((r) => {
    const cseq: SipHeader = {
      name: "cseq",
      rawName: "CSeq",
      value: `${r.seq} ${r.request ? r.method : "INVITE"}`,
    };
    const all = [...r.mandatory, cseq, ...r.extras];
    return fc.shuffledSubarray(all, { minLength: all.length }).map((headers): SipMessage => {
      const common = { version: "SIP/2.0", headers, body: r.body };
      return r.request
        ? { kind: "request", method: r.method, uri: r.uri, ...common }
        : { kind: "response", status: r.status, reason: r.reason, ...common };
    });
  });

test("property: parse(serialize(m)) gives m back, Content-Length added", () => {
  fc.assert(
    fc.property(messageArb, fc.boolean(), (m, stream) => {
      const bytes = serializeMessage(m);
      const r = parseMessage(bytes, { stream });
      if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
      const back = r.message;
      assert.equal(back.kind, m.kind);
      if (back.kind === "request" && m.kind === "request") {
        assert.equal(back.method, m.method);
        assert.equal(back.uri, m.uri);
      } else if (back.kind === "response" && m.kind === "response") {
        assert.equal(back.status, m.status);
        assert.equal(back.reason, m.reason);
      }
      assert.deepEqual(back.headers, [
        ...m.headers,
        { name: "content-length", rawName: "Content-Length", value: String(m.body.length) },
      ]);
      assert.deepEqual(back.body, m.body);
      assert.deepEqual(serializeMessage(back), bytes);
      for (const name of ["via", "contact", "route"])
        assert.deepEqual(
          headerValues(back, name),
          m.headers.filter((h) => h.name === name).flatMap((h) => splitTopLevel(h.value)),
        );
    }),
    runs(200),
  );
});

function checkResult(r: { ok: boolean; error?: { code: string; message: string } }): void {
  if (r.ok) return;
  assert.ok(r.error && ERROR_CODES.has(r.error.code), `unknown code ${r.error?.code}`);
  assert.equal(typeof r.error.message, "string");
}

/** Everything that reads untrusted bytes or text, on one input. */
function readAll(bytes: Buffer): void {
  for (const stream of [true, false]) {
    const r = parseMessage(bytes, { stream });
    checkResult(r);
    if (r.ok) assert.ok(parseMessage(serializeMessage(r.message), { stream: true }).ok);
  }
  const framer = new SipStreamFramer({ maxMessageBytes: 1_000 });
  const f = framer.push(bytes);
  if (f.error) assert.ok(ERROR_CODES.has(f.error.code), f.error.code);
  const s = bytes.toString("latin1");
  parseVia(s);
  parseNameAddr(s);
  parseCSeq(s);
  parseParams(s);
  splitTopLevel(s);
}

test("property: random bytes never throw", () => {
  const sipish = fc.string({
    unit: fc.constantFrom(...'SIP/2.0 INVITE sip:a@b\r\n:;,<>"\\ \t0123456789lvVi'),
    maxLength: 400,
  });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 2_000 }).map((a) => Buffer.from(a)),
        sipish.map((s) => Buffer.from(s, "latin1")),
      ),
      (bytes) => readAll(bytes),
    ),
    runs(200),
  );
});

type Mutation = { at: number; kind: "flip" | "delete" | "insert" | "dup"; len: number; byte: number };

function mutate(base: Buffer, muts: readonly Mutation[]): Buffer {
  let b = base;
  for (const { at, kind, len, byte } of muts) {
    const i = b.length === 0 ? 0 : at % b.length;
    if (kind === "flip") {
      b = Buffer.from(b);
      if (b.length > 0) b[i] = byte;
    } else if (kind === "delete") b = Buffer.concat([b.subarray(0, i), b.subarray(i + len)]);
    else if (kind === "insert") b = Buffer.concat([b.subarray(0, i), Buffer.alloc(len, byte), b.subarray(i)]);
    else b = Buffer.concat([b.subarray(0, i + len), b.subarray(i)]);
  }
  return b;
}

test("property: mutations of valid messages never throw", () => {
  const mutation = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom("flip", "delete", "insert", "dup") as fc.Arbitrary<Mutation["kind"]>,
    len: fc.integer({ min: 1, max: 40 }),
    byte: fc.oneof(
      fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x2c, 0x3a, 0x3b, 0x22, 0x3c, 0x00),
      fc.nat({ max: 255 }),
    ),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(INVITE_SIPP, OK_200, OPTIONS),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (base, muts) => readAll(mutate(base, muts)),
    ),
    runs(200),
  );
});

test("property: the first top-level value is splitTopLevel's first, quotes, escapes and <...> included", () => {
  const piece = fc.constantFrom(",", " ", '"', "\\", "<", ">", "a", "b;c=d", "sip:x@y", "\t");
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
      const v = pieces.join("");
      assert.equal(firstTopLevel(v), splitTopLevel(v)[0], JSON.stringify(v));
    }),
    { numRuns: 3000 },
  );
});

test("property: a start line reads as RFC 3261 §7.1/§7.2 say, on the short paths and the long", () => {
  // The old reading, split at every space: what the start line must give, whatever its form.
  const reference = (line: string) => {
    const parts = line.split(" ");
    const [a = "", b = "", c = ""] = parts;
    if (/^SIP\/\d+\.\d+$/i.test(a)) {
      if (a.toUpperCase() !== "SIP/2.0") return "bad_version";
      if (!/^[1-6]\d\d$/.test(b)) return "bad_start_line";
      return `response ${Number(b)} [${line.slice(a.length + b.length + 2)}]`;
    }
    if (parts.length !== 3 || !/^[A-Za-z0-9\-.!%*_+`'~]+$/.test(a) || b === "") return "bad_start_line";
    if (c.toUpperCase() !== "SIP/2.0") return "bad_version";
    return `request ${a} [${b}]`;
  };
  // The CSeq names the request's method (else the message is refused for it); any for a response.
  const method = (start: string) => {
    const first = start.split(" ")[0] ?? "";
    return /^[A-Za-z0-9\-.!%*_+`'~]+$/.test(first) ? first : "INVITE";
  };
  const piece = fc.constantFrom(
    "SIP/2.0",
    "sip/2.0",
    "SIP/3.0",
    "INVITE",
    "BYE",
    "200",
    "099",
    "600",
    "6",
    "sip:a@b",
    "OK",
    "",
    "\t",
    "a:b",
  );
  const line = fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => p.join(" "));
  fc.assert(
    fc.property(line, (start) => {
      const text = `${start}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 ${method(start)}\r\nContent-Length: 0\r\n\r\n`;
      const want = reference(start);
      const got = parseMessage(Buffer.from(text, "latin1"), { stream: false });
      if (!got.ok) {
        // A CSeq that does not fit is the only other refusal these messages can get.
        if (got.error.code !== "bad_cseq") assert.equal(got.error.code, want, start);
        else assert.match(want, /^request /, start);
        return;
      }
      const m = got.message;
      assert.equal(
        m.kind === "response" ? `response ${m.status} [${m.reason}]` : `request ${m.method} [${m.uri}]`,
        want,
        start,
      );
    }),
    { numRuns: 3000 },
  );
});
