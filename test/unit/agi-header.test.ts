import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  HEADER_LIMITS,
  HeaderReader,
  headerVar,
  lineBytes,
  parseHeader,
} from "../../src/protocols/fastagi/header.ts";
import { splitAgiUrl } from "../../src/protocols/fastagi/request.ts";
import { upstreamHeader } from "../../src/protocols/fastagi/rewrite.ts";

const RAW = readFileSync(new URL("../fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url));

function readAll(chunks: Buffer[]) {
  const r = new HeaderReader();
  let last: ReturnType<HeaderReader["push"]> = { done: false };
  for (const c of chunks) {
    last = r.push(c);
    if (last.done || "error" in last) break;
  }
  return last;
}

test("the captured Asterisk header parses, byte-exact, in order", () => {
  const r = readAll([RAW]);
  assert.ok(r.done);
  assert.equal(r.header.length, RAW.length);
  const h = parseHeader(r.header);
  assert.ok(!("code" in h));
  assert.equal(h.request, "agi://127.0.0.1:4580/hello?x=1&y=%20z");
  assert.equal(h.lines.length, 24);
  assert.equal(h.lines[0]?.name, "agi_network");
  assert.equal(headerVar(h, "agi_accountcode"), "");
  assert.deepEqual(Buffer.concat([...h.lines.map((l) => lineBytes(h, l)), h.terminator]), RAW);
});

test("a header split into 1-byte reads is assembled", () => {
  const chunks = [...RAW].map((b) => Buffer.from([b]));
  const r = readAll(chunks);
  assert.ok(r.done);
  assert.deepEqual(r.header, RAW);
});

test("bytes after the empty line in the same read (an early HANGUP) are returned, not dropped", () => {
  const r = readAll([Buffer.concat([RAW, Buffer.from("HANGUP\n")])]);
  assert.ok(r.done);
  assert.equal(r.rest.toString(), "HANGUP\n");
});

test("CRLF line endings are accepted", () => {
  const crlf = Buffer.from(RAW.toString("latin1").replace(/\n/g, "\r\n"), "latin1");
  const r = readAll([crlf]);
  assert.ok(r.done);
  const h = parseHeader(r.header);
  assert.ok(!("code" in h));
  assert.equal(h.request, "agi://127.0.0.1:4580/hello?x=1&y=%20z");
  assert.equal(h.terminator.toString(), "\r\n");
});

test("UTF-8 values stay bytes", () => {
  const name = Buffer.from("agi_calleridname: Zoë Ærø 日本\n");
  const raw = Buffer.concat([
    Buffer.from("agi_network: yes\nagi_request: agi://h/x\n"),
    name,
    Buffer.from("\n"),
  ]);
  const h = parseHeader(raw);
  assert.ok(!("code" in h));
  assert.equal(h.lines[2]?.value, "Zoë Ærø 日本");
  assert.deepEqual(lineBytes(h, h.lines[2]!), name);
});

test("limits: 64 KiB and 256 lines", () => {
  const many = Buffer.from("agi_request: agi://h/x\n" + "agi_arg_1: x\n".repeat(HEADER_LIMITS.maxLines));
  const r1 = readAll([many]);
  assert.ok("error" in r1 && r1.error.code === "too_many_lines");
  const big = Buffer.from(`agi_request: agi://h/${"x".repeat(HEADER_LIMITS.maxBytes)}`);
  const r2 = readAll([big]);
  assert.ok("error" in r2 && r2.error.code === "too_long");
});

test("invalid headers are rejected with a reason", () => {
  const cases: [string, string][] = [
    ["agi_network: yes\n\n", "no agi_request"],
    ["GET / HTTP/1.1\n\n", 'not "name: value"'],
    ["agi_request: agi://h/x\nagi_x: a\u0000b\n\n", "control bytes"],
    ["bad name: x\nagi_request: agi://h/\n\n", "invalid variable name"],
  ];
  for (const [text, why] of cases) {
    const h = parseHeader(Buffer.from(text, "latin1"));
    assert.ok("code" in h, text);
    assert.match(h.message, new RegExp(why.replace(/[()"]/g, ".")));
  }
});

test("a rewrite changes agi_request and agi_network_script together; all else byte-for-byte", () => {
  const h = parseHeader(RAW);
  assert.ok(!("code" in h));
  const orig = splitAgiUrl(h.request)!;
  const out = upstreamHeader(h, RAW, orig, { ...orig, path: "/apps/menu" }, undefined).toString("latin1");
  const expected = RAW.toString("latin1")
    .replace("agi_network_script: hello?x=1&y=%20z\n", "agi_network_script: apps/menu?x=1&y=%20z\n")
    .replace(
      "agi_request: agi://127.0.0.1:4580/hello?x=1&y=%20z\n",
      "agi_request: agi://127.0.0.1:4580/apps/menu?x=1&y=%20z\n",
    );
  assert.equal(out, expected);
  // Without a rewrite the very same buffer goes out.
  assert.equal(upstreamHeader(h, RAW, orig, orig, undefined), RAW);
});

test("forwarded_for adds agi_x_fwd_for, appending to an existing one", () => {
  const raw = Buffer.from("agi_network: yes\nagi_request: agi://h/x\nagi_x_fwd_for: 10.0.0.1\n\n");
  const h = parseHeader(raw);
  assert.ok(!("code" in h));
  const u = splitAgiUrl(h.request)!;
  assert.match(
    upstreamHeader(h, raw, u, u, "10.0.0.2").toString(),
    /agi_x_fwd_for: 10\.0\.0\.1, 10\.0\.0\.2\n\n$/,
  );
  const raw2 = Buffer.from("agi_network: yes\nagi_request: agi://h/x\n\n");
  const h2 = parseHeader(raw2);
  assert.ok(!("code" in h2));
  assert.equal(
    upstreamHeader(h2, raw2, u, u, "10.0.0.2").toString(),
    "agi_network: yes\nagi_request: agi://h/x\nagi_x_fwd_for: 10.0.0.2\n\n",
  );
});

test("a rewrite of a URL without a path inserts agi_network_script where Asterisk puts it", () => {
  const raw = Buffer.from("agi_network: yes\nagi_request: agi://h:4573\nagi_channel: x\n\n");
  const h = parseHeader(raw);
  assert.ok(!("code" in h));
  const u = splitAgiUrl(h.request)!;
  assert.equal(u.path, "");
  const out = upstreamHeader(h, raw, u, { ...u, path: "/fallback" }, undefined).toString();
  assert.equal(
    out,
    "agi_network: yes\nagi_network_script: fallback\nagi_request: agi://h:4573/fallback\nagi_channel: x\n\n",
  );
});

test("a variable that appears twice makes the header invalid (Asterisk writes each once)", () => {
  // Two agi_request lines: the route would read one and a server might read the other.
  const twice = parseHeader(
    Buffer.from("agi_network: yes\nagi_request: agi://h/a\nagi_channel: x\nagi_request: agi://h/b\n\n"),
  );
  assert.ok("code" in twice);
  assert.equal(twice.code, "invalid");
  assert.equal(twice.message, 'variable "agi_request" appears twice (lines 2 and 4)');

  const other = parseHeader(
    Buffer.from("agi_request: agi://h/x\r\nagi_callerid: 100\r\nagi_callerid: 200\r\n\r\n"),
  );
  assert.ok("code" in other);
  assert.equal(other.code, "invalid");
  assert.equal(other.message, 'variable "agi_callerid" appears twice (lines 2 and 3)');

  // Even with the same value, and even when the repeat is the last line.
  const same = parseHeader(Buffer.from("agi_request: agi://h/x\nagi_arg_1: a\nagi_arg_1: a\n\n"));
  assert.ok("code" in same && /"agi_arg_1" appears twice/.test(same.message));

  // Names are case-sensitive, as headerVar and the router read them: these are two variables.
  const cased = parseHeader(Buffer.from("agi_request: agi://h/x\nAGI_REQUEST: agi://h/y\n\n"));
  assert.ok(!("code" in cased));
  assert.equal(cased.request, "agi://h/x");
  assert.equal(headerVar(cased, "AGI_REQUEST"), "agi://h/y");
});

/** Feeds `bytes` in pieces of `size` (the last one shorter) and returns the first answer that is not "need more". */
function feed(bytes: Buffer, size: number) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return readAll(chunks);
}
/** What a reader says, in a form that compares across splits (rest is only what came in the last read). */
function outcome(r: ReturnType<HeaderReader["push"]>): string {
  if ("error" in r) return r.error.code;
  return r.done ? `done ${r.header.length}` : "more";
}
/** A line `agi_arg_N: xxx\n` of exactly `len` bytes (len ≥ 13). */
const argLine = (n: number, len: number) => {
  const head = `agi_arg_${n}: `;
  return `${head}${"x".repeat(len - head.length - 1)}\n`;
};
const SPLITS = [1, 2, 7, 100, 4096, 65_536, Number.MAX_SAFE_INTEGER];

test("the reason a header is refused does not depend on how its bytes were split into reads", () => {
  const { maxBytes, maxLines } = HEADER_LIMITS;
  const cases: [string, Buffer, string][] = [
    // The byte limit is crossed long before the line limit: too_long, even fed whole (the
    // 300 lines behind the long one were once counted first when they came in one read).
    [
      "a long first line, then many lines",
      Buffer.from(
        `agi_request: agi://h/${"x".repeat(maxBytes)}\n${"agi_arg_1: x\n".repeat(maxLines + 50)}\n`,
      ),
      "too_long",
    ],
    // The line limit is crossed long before the byte limit: too_many_lines, even when the
    // bytes behind it run past 64 KiB in the same read.
    [
      "many lines, then a long one",
      Buffer.from(`${"agi_arg_1: x\n".repeat(maxLines + 1)}agi_request: agi://h/${"x".repeat(maxBytes)}\n\n`),
      "too_many_lines",
    ],
  ];
  // 257 lines of 255 or 256 bytes that add up to maxBytes+1: the (maxLines+1)-th line ends
  // exactly at byte maxBytes+1. Both limits are crossed at that byte; the line limit wins.
  const lines = Array.from({ length: maxLines + 1 }, (_, i) => argLine(i + 1, i < 2 ? 256 : 255));
  const tie = Buffer.from(`${lines.join("")}\n`);
  assert.equal(tie.indexOf("\n\n") + 1, maxBytes + 1);
  cases.push(["the last line ends at byte maxBytes+1", tie, "too_many_lines"]);
  // One byte more and byte maxBytes+1 arrives while that line is still open.
  lines[0] = argLine(1, 257);
  cases.push(["the last line ends at byte maxBytes+2", Buffer.from(`${lines.join("")}\n`), "too_long"]);
  // A header of exactly maxBytes bytes, the empty line included, is complete; one more is not.
  const exact = [argLine(1, 1000), ...Array.from({ length: 63 }, (_, i) => argLine(i + 2, 1024))];
  exact[0] = `agi_request: agi://h/${"x".repeat(1000 - 22)}\n`;
  exact.push(argLine(65, maxBytes - exact.join("").length - 1));
  const full = Buffer.from(`${exact.join("")}\n`);
  assert.equal(full.length, maxBytes);
  cases.push(["exactly maxBytes", full, `done ${maxBytes}`]);
  cases.push(["maxBytes+1", Buffer.concat([Buffer.from("agi_x: y\n"), full]), "too_long"]);
  // The empty line ending at byte maxBytes+1 does not fit either.
  cases.push([
    "empty line ends at maxBytes+1",
    Buffer.concat([Buffer.from("x\n"), full.subarray(1)]),
    "too_long",
  ]);
  // Bytes after the empty line are not part of the header, however many.
  cases.push([
    "a full header and 64 KiB behind it",
    Buffer.concat([full, Buffer.alloc(maxBytes, 0x41)]),
    `done ${maxBytes}`,
  ]);

  for (const [what, bytes, want] of cases) {
    for (const size of SPLITS) assert.equal(outcome(feed(bytes, size)), want, `${what}, reads of ${size}`);
  }
});

test("a refused reader stays refused; bytes after the header are all returned across reads", () => {
  const r = new HeaderReader();
  const first = r.push(Buffer.from("agi_request: agi://h/x\nGET / HTTP/1.1"));
  assert.deepEqual(first, { done: false });
  const big = r.push(Buffer.alloc(HEADER_LIMITS.maxBytes, 0x41));
  assert.ok("error" in big && big.error.code === "too_long");
  const after = r.push(Buffer.from("\n\n"));
  assert.ok("error" in after && after.error.code === "too_long");

  const hangup = Buffer.concat([RAW, Buffer.from("HANGUP\n")]);
  for (const size of SPLITS) {
    const got = feed(hangup, size);
    assert.ok(got.done, `reads of ${size}`);
    assert.deepEqual(got.header, RAW);
    // The rest is what came after the empty line in the read that completed the header.
    const readEnd = Math.min(Math.ceil(RAW.length / size) * size, hangup.length);
    assert.deepEqual(got.rest, hangup.subarray(RAW.length, readEnd), `reads of ${size}`);
  }
});
