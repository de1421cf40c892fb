import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeEslValue,
  EslFrameReader,
  type EslLimits,
  parseEventPlain,
} from "../../src/health/esl/frame.ts";
import { DEFAULT_FIGURES, eslFrame, heartbeatBody, RUDE_REJECTION } from "../helpers/freeswitch-esl.ts";

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

type Seen = {
  frames: { headers: [string, string][]; body: string | undefined }[];
  error: string | undefined;
};

/** Feeds `stream` cut at `cuts`; frames as plain data so deepEqual compares them. */
function feed(stream: Buffer, cuts: readonly number[] = [], limits: Partial<EslLimits> = {}): Seen {
  const reader = new EslFrameReader(limits);
  const seen: Seen = { frames: [], error: undefined };
  const bounds = [...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length];
  let from = 0;
  for (const to of bounds) {
    if (to <= from) continue;
    const r = reader.push(stream.subarray(from, to));
    for (const f of r.frames) seen.frames.push({ headers: [...f.headers], body: f.body?.toString("latin1") });
    if (r.error) {
      seen.error = r.error.code;
      break;
    }
    from = to;
  }
  return seen;
}

const AUTH_REQUEST = eslFrame("auth/request");
const ACCEPTED = eslFrame("command/reply", undefined, { "Reply-Text": "+OK accepted" });
const HEARTBEAT = eslFrame("text/event-plain", heartbeatBody(DEFAULT_FIGURES));
const API = eslFrame("api/response", "UP 0 years, 0 days\nno trailing newline");
const STREAM = Buffer.from(AUTH_REQUEST + ACCEPTED + HEARTBEAT + API + RUDE_REJECTION);

test("a session's frames in one chunk: headers, bodies by Content-Length", () => {
  const r = feed(STREAM);
  assert.equal(r.error, undefined);
  assert.deepEqual(
    r.frames.map((f) => f.headers),
    [
      [["Content-Type", "auth/request"]],
      [
        ["Content-Type", "command/reply"],
        ["Reply-Text", "+OK accepted"],
      ],
      [
        ["Content-Length", String(Buffer.byteLength(heartbeatBody(DEFAULT_FIGURES)))],
        ["Content-Type", "text/event-plain"],
      ],
      [
        ["Content-Length", "38"],
        ["Content-Type", "api/response"],
      ],
      [
        ["Content-Length", "24"],
        ["Content-Type", "text/rude-rejection"],
      ],
    ],
  );
  assert.equal(r.frames[0]!.body, undefined, "no Content-Length, no body");
  assert.equal(r.frames[3]!.body, "UP 0 years, 0 days\nno trailing newline");
  assert.equal(r.frames[4]!.body, "Access Denied, go away.\n");
});

test("byte by byte gives the same frames, and nothing is held between frames", () => {
  const reader = new EslFrameReader();
  let n = 0;
  for (const b of STREAM) n += reader.push(Buffer.from([b])).frames.length;
  assert.equal(n, 5);
  assert.equal(reader.pending, 0);
  assert.deepEqual(
    feed(
      STREAM,
      Array.from({ length: STREAM.length }, (_, i) => i),
    ),
    feed(STREAM),
  );
});

test("CRLF line ends and stray empty lines between frames are tolerated", () => {
  const r = feed(Buffer.from("\n\r\nContent-Type: command/reply\r\nReply-Text: +OK accepted\r\n\r\n"));
  assert.equal(r.error, undefined);
  assert.deepEqual(r.frames, [
    {
      headers: [
        ["Content-Type", "command/reply"],
        ["Reply-Text", "+OK accepted"],
      ],
      body: undefined,
    },
  ]);
});

test("a Content-Length of 0 is a frame with an empty body", () => {
  const r = feed(
    Buffer.from("Content-Length: 0\nContent-Type: api/response\n\nContent-Type: auth/request\n\n"),
  );
  assert.equal(r.frames.length, 2);
  assert.equal(r.frames[0]!.body, "");
});

test("errors: a line without a colon, a bad Content-Length", () => {
  assert.equal(feed(Buffer.from("Content-Type auth/request\n\n")).error, "bad_header_line");
  assert.equal(feed(Buffer.from(": empty name\n\n")).error, "bad_header_line");
  assert.equal(feed(Buffer.from("Content-Length: -1\n\n")).error, "bad_content_length");
  assert.equal(feed(Buffer.from("Content-Length: 12abc\n\n")).error, "bad_content_length");
  assert.equal(feed(Buffer.from("Content-Length: 99999999999\n\n")).error, "bad_content_length");
});

test("limits: 16 KiB of headers, 1 MiB of body by default; the error sticks", () => {
  const longHead = Buffer.from(`Content-Type: text/event-plain\nX: ${"a".repeat(16 * 1024)}\n\n`);
  assert.equal(feed(longHead).error, "header_section_too_large");
  // Found without waiting for the end of the line: a peer that never sends LF is cut off.
  assert.equal(feed(Buffer.from("X".repeat(16 * 1024 + 1))).error, "header_section_too_large");
  // Exactly at the limit is fine.
  const fits = `X: ${"a".repeat(16 * 1024 - 5)}\n\n`;
  assert.equal(Buffer.byteLength(fits), 16 * 1024);
  assert.equal(feed(Buffer.from(fits)).error, undefined);
  assert.equal(feed(Buffer.from(`Content-Length: ${1024 * 1024 + 1}\n\n`)).error, "body_too_large");
  assert.equal(feed(Buffer.from(`Content-Length: ${1024 * 1024}\n\n`)).error, undefined);
  const reader = new EslFrameReader({ maxBodyBytes: 10 });
  assert.equal(reader.push(Buffer.from("Content-Length: 11\n\n")).error?.code, "body_too_large");
  assert.equal(
    reader.push(Buffer.from(AUTH_REQUEST)).error?.code,
    "body_too_large",
    "no reading after an error",
  );
  assert.equal(reader.pending, 0);
});

test("parseEventPlain: url-decoded values; a bad escape keeps the raw text; stops at the empty line", () => {
  const h = parseEventPlain(Buffer.from(heartbeatBody(DEFAULT_FIGURES)));
  assert.equal(h.get("Event-Name"), "HEARTBEAT");
  assert.equal(h.get("Session-Count"), "7");
  assert.equal(h.get("Idle-CPU"), "97.633333");
  assert.equal(h.get("Event-Date-Local"), "2026-12-01 18:21:41");
  assert.equal(h.get("Up-Time")?.startsWith("0 years, 0 days, 1 hour"), true);
  const odd = parseEventPlain("A: 100%25\nB: 50%\nC: %E0%A4%A\nnot a header\nD: x%3Ay\n\nE: in the body\n");
  assert.deepEqual(
    [...odd],
    [
      ["A", "100%"],
      ["B", "50%"],
      ["C", "%E0%A4%A"],
      ["D", "x:y"],
    ],
  );
  assert.equal(decodeEslValue("plain"), "plain");
});

test("property: the frames do not depend on how the stream is split", () => {
  const frame = fc.oneof(
    fc.constant(AUTH_REQUEST),
    fc.constant(ACCEPTED),
    fc.constant(HEARTBEAT),
    fc
      .tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), fc.string({ maxLength: 40 }))
      .map(([type, body]) => eslFrame(type, body)),
    fc.stringMatching(/^[a-z]{1,8}$/).map((v) => eslFrame("command/reply", undefined, { "Reply-Text": v })),
  );
  fc.assert(
    fc.property(
      fc.array(frame, { maxLength: 8 }),
      fc.array(fc.nat({ max: 4000 }), { maxLength: 20 }),
      (frames, cuts) => {
        const stream = Buffer.from(frames.join(""));
        const whole = feed(stream);
        assert.equal(whole.error, undefined);
        assert.equal(whole.frames.length, frames.length);
        assert.deepEqual(feed(stream, cuts), whole);
      },
    ),
    runs(300),
  );
});

test("property: random bytes never throw, split or not, and hold no more than the limits", () => {
  const limits = { maxHeaderBytes: 64, maxBodyBytes: 64 };
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.nat({ max: 600 }), { maxLength: 10 }),
      (bytes, cuts) => {
        const stream = Buffer.from(bytes);
        assert.deepEqual(feed(stream, cuts, limits), feed(stream, [], limits));
        const reader = new EslFrameReader(limits);
        for (let i = 0; i < stream.length; i += 7) {
          reader.push(stream.subarray(i, i + 7));
          assert.ok(reader.pending <= 64);
        }
        parseEventPlain(stream);
      },
    ),
    runs(500),
  );
});
