import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type FramerResult, SipStreamFramer } from "../../src/protocols/sip/framer.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipLimits, SipMessage } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP, OK_200, OPTIONS, RINGING_180, sip } from "../fixtures/sip/samples.ts";

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

type Outcome = { messages: Buffer[]; error: string | undefined; pending: number };

/** Feeds the stream cut at `cuts`; messages are compared as their serialized bytes. */
function feed(stream: Buffer, cuts: readonly number[], limits: Partial<SipLimits> = {}): Outcome {
  const framer = new SipStreamFramer(limits);
  const messages: Buffer[] = [];
  let error: string | undefined;
  const bounds = [...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length];
  let from = 0;
  for (const to of bounds) {
    if (to <= from) continue;
    const r: FramerResult = framer.push(stream.subarray(from, to));
    messages.push(...r.messages.map((m: SipMessage) => serializeMessage(m)));
    if (r.error) {
      error = r.error.code;
      break;
    }
    from = to;
  }
  return { messages, error, pending: framer.pending };
}

function byteByByte(stream: Buffer, limits: Partial<SipLimits> = {}): Outcome {
  return feed(
    stream,
    Array.from({ length: stream.length }, (_, i) => i),
    limits,
  );
}

const KEEPALIVE = Buffer.from("\r\n\r\n");
const STREAM = Buffer.concat([
  KEEPALIVE,
  INVITE_SIPP,
  OPTIONS,
  KEEPALIVE,
  KEEPALIVE,
  OK_200,
  RINGING_180,
  KEEPALIVE,
]);

test("a stream of messages and keep-alives, in one chunk", () => {
  const r = feed(STREAM, []);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.messages, [INVITE_SIPP, OPTIONS, OK_200, RINGING_180]);
  assert.equal(r.pending, 0);
});

test("the same stream fed byte by byte", () => {
  assert.deepEqual(byteByByte(STREAM), feed(STREAM, []));
});

test("a message waits for its body; the next one starts right after it", () => {
  const framer = new SipStreamFramer();
  const cut = INVITE_SIPP.length - 10;
  assert.deepEqual(framer.push(INVITE_SIPP.subarray(0, cut)).messages, []);
  assert.ok(framer.pending > 0);
  const r = framer.push(Buffer.concat([INVITE_SIPP.subarray(cut), OPTIONS.subarray(0, 20)]));
  assert.equal(r.messages.length, 1);
  const m = r.messages[0];
  assert.ok(m?.kind === "request");
  assert.equal(m.method, "INVITE");
  assert.equal(framer.pending, 20);
  const rest = framer.push(OPTIONS.subarray(20));
  assert.equal(rest.messages[0]?.kind, "request");
});

test("a message with Content-Length 0 completes at its empty line", () => {
  const r = new SipStreamFramer().push(OPTIONS);
  assert.equal(r.messages.length, 1);
});

const REQ = [
  "OPTIONS sip:b@h SIP/2.0",
  "Via: SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK1",
  "From: <sip:a@h>;tag=1",
  "To: <sip:b@h>",
  "Call-ID: c@h",
  "CSeq: 1 OPTIONS",
];

test("errors: missing or bad Content-Length, too long a header section or body, bad SIP", () => {
  assert.equal(feed(sip(REQ), []).error, "missing_content_length");
  assert.equal(feed(sip([...REQ, "Content-Length: x"]), []).error, "bad_content_length");
  assert.equal(feed(sip([...REQ, "Content-Length: 1", "l: 2"]), []).error, "bad_content_length");
  const msg = sip([...REQ, "Content-Length: 0"]);
  assert.equal(feed(msg, [], { maxMessageBytes: msg.length }).error, undefined);
  assert.equal(feed(msg, [], { maxMessageBytes: msg.length - 1 }).error, "header_section_too_large");
  // An endless header line is refused at the limit, without waiting for its end.
  assert.equal(feed(Buffer.from(`OPTIONS sip:${"a".repeat(70_000)}`), []).error, "header_section_too_large");
  const withBody = sip([...REQ, "Content-Length: 10"], "0123456789");
  assert.equal(feed(withBody, [], { maxMessageBytes: withBody.length }).error, undefined);
  assert.equal(feed(withBody, [], { maxMessageBytes: withBody.length - 1 }).error, "body_too_large");
  assert.equal(feed(sip([...REQ, "Content-Length: 100000"]), []).error, "body_too_large");
  assert.equal(feed(sip(["HELLO", "Content-Length: 0"]), []).error, "bad_start_line");
  assert.equal(feed(sip(["OPTIONS sip:b@h SIP/2.0", "Content-Length: 0"]), []).error, "missing_header");
});

test("an error is final: messages before it are given, and later pushes repeat it", () => {
  const framer = new SipStreamFramer();
  const r = framer.push(Buffer.concat([OPTIONS, sip(REQ), OPTIONS]));
  assert.equal(r.messages.length, 1);
  assert.equal(r.error?.code, "missing_content_length");
  const again = framer.push(OPTIONS);
  assert.deepEqual(again.messages, []);
  assert.equal(again.error?.code, "missing_content_length");
  assert.equal(framer.pending, 0);
});

/** Streams of sample messages, keep-alives and (sometimes) garbage, with small limits too. */
const streamArb = fc
  .array(
    fc.oneof(
      fc.constantFrom(INVITE_SIPP, OPTIONS, OK_200, RINGING_180, KEEPALIVE, Buffer.from("\r\n")),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      fc.constantFrom(sip(REQ), sip([...REQ, "Content-Length: 99999"])),
    ),
    { maxLength: 8 },
  )
  .map((parts) => Buffer.concat(parts));

const limitsArb = fc.constantFrom<Partial<SipLimits>>({}, { maxMessageBytes: 300 }, { maxMessageBytes: 900 });

test("property: the result does not depend on how the stream was split", () => {
  fc.assert(
    fc.property(
      streamArb,
      fc.array(fc.nat({ max: 4000 }), { maxLength: 30 }),
      limitsArb,
      (stream, cuts, limits) => {
        const whole = feed(stream, [], limits);
        assert.deepEqual(feed(stream, cuts, limits), whole);
        assert.deepEqual(byteByByte(stream, limits), whole);
      },
    ),
    runs(200),
  );
});

test("property: valid messages split anywhere come out as they went in", () => {
  const messages = [INVITE_SIPP, OPTIONS, OK_200, RINGING_180];
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...messages), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat({ max: 5000 }), { maxLength: 40 }),
      (list, cuts) => {
        const r = feed(Buffer.concat(list), cuts);
        assert.equal(r.error, undefined);
        assert.deepEqual(r.messages, list);
      },
    ),
    runs(200),
  );
});

test("a large message trickled a byte at a time costs linear work", () => {
  const body = "x".repeat(60_000);
  const big = sip([...REQ, `Content-Length: ${body.length}`], body);
  const started = performance.now();
  const r = byteByByte(big);
  assert.equal(r.error, undefined);
  assert.equal(r.messages.length, 1);
  // Quadratic rescanning of 60 KB a byte at a time would take many seconds.
  assert.ok(performance.now() - started < 2_000);
});
