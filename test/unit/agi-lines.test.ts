import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  AsteriskLines,
  LINE_TOO_LONG,
  MAX_UPSTREAM_LINE,
  UpstreamLines,
  unsettled,
} from "../../src/protocols/fastagi/lines.ts";

/**
 * The relay's line logic without sockets: Asterisk's side (HANGUP, replies, the `520-` usage
 * block of res_agi.c's 520 reply) and the server's side (whole lines only, FAILURE at a line
 * start, command counting, the line cap). Both must read a stream the same however TCP cut it.
 */

const b = (s: string) => Buffer.from(s, "latin1");

/** Reads every chunk; what the session sees: replies, whether HANGUP came, how often scan said "first". */
function scanAll(chunks: readonly Buffer[]) {
  const a = new AsteriskLines();
  let firsts = 0;
  for (const c of chunks) if (a.scan(c)) firsts++;
  return { replies: a.replies, hangupSeen: a.hangupSeen, firsts };
}

/** Frames every chunk as the relay does, counting what it writes, then takes the tail at EOF. */
function frameAll(chunks: readonly Buffer[], maxLine?: number) {
  const u = new UpstreamLines(maxLine);
  const written: Buffer[] = [];
  let tooLong = false;
  for (const c of chunks) {
    const data = u.push(c);
    if (data === LINE_TOO_LONG) {
      tooLong = true;
      break;
    }
    if (data === undefined) continue;
    u.count(data);
    written.push(data);
  }
  const cut = u.cut;
  const tail = tooLong ? undefined : u.takeTail();
  if (tail) u.count(tail);
  return {
    written: Buffer.concat(written).toString("latin1"),
    tail: tail?.toString("latin1"),
    cut,
    tooLong,
    commands: u.commands,
    failureSent: u.failureSent,
  };
}

test("Asterisk: each reply line counts once; empty lines and lines not yet ended do not", () => {
  assert.deepEqual(scanAll([b("200 result=1\n\n\r\n510 Invalid or unknown command\n200 res")]), {
    replies: 2,
    hangupSeen: false,
    firsts: 0,
  });
});

test("Asterisk: HANGUP (with or without CR) is noted once and is no reply; a longer line is a reply", () => {
  assert.deepEqual(scanAll([b("HANGUP\n")]), { replies: 0, hangupSeen: true, firsts: 1 });
  assert.deepEqual(scanAll([b("HANGUP\r\n200 result=0\nHANGUP\n")]), {
    replies: 1,
    hangupSeen: true,
    firsts: 1,
  });
  assert.deepEqual(scanAll([b("HANGUPS\nHANGUP \n")]), { replies: 2, hangupSeen: false, firsts: 0 });
  assert.deepEqual(scanAll([b("HANG"), b("UP"), b("\r"), b("\n")]), {
    replies: 0,
    hangupSeen: true,
    firsts: 1,
  });
});

test("Asterisk: a 520- usage block counts once, at its closing 520 line, whichever form it takes", () => {
  const usage = "520-Invalid command syntax.  Proper usage follows:\nUsage: ANSWER\n\n";
  for (const close of ["520 End of proper usage.\n", "520\n", "520\r\n"])
    assert.deepEqual(scanAll([b(`${usage}${close}200 result=0\n`)]), {
      replies: 2,
      hangupSeen: false,
      firsts: 0,
    });
  // Unclosed: the usage text is not a reply.
  assert.deepEqual(scanAll([b(usage)]), { replies: 0, hangupSeen: false, firsts: 0 });
  // Asterisk's unprompted HANGUP can come inside it.
  assert.deepEqual(scanAll([b(`${usage}HANGUP\n520 End\n`)]), { replies: 1, hangupSeen: true, firsts: 1 });
});

test("server: only whole lines are given; the tail waits for its newline", () => {
  const u = new UpstreamLines();
  assert.equal(u.push(b("ANSWER")), undefined);
  assert.equal(u.cut, true);
  const got = u.push(b('\nSTREAM FILE x ""\nGET '));
  assert.ok(Buffer.isBuffer(got));
  assert.equal(got.toString("latin1"), 'ANSWER\nSTREAM FILE x ""\n');
  assert.equal(u.cut, true);
  assert.equal(u.push(b("VARIABLE X\n"))?.toString(), "GET VARIABLE X\n");
  assert.equal(u.cut, false);
  assert.equal(u.takeTail(), undefined);
});

test("server: every line is a command (an empty one too, res_agi.c answers 510) but a FAILURE line, in any case", () => {
  const u = new UpstreamLines();
  u.count(b("ANSWER\n\nFAIL\nNOOP failure\n"));
  assert.equal(u.commands, 4);
  assert.equal(u.failureSent, false);
  u.count(b("fAiLuRe\n"));
  assert.equal(u.commands, 4);
  assert.equal(u.failureSent, true);
  // The last line cut by EOF counts as the command res_agi.c runs it as.
  u.count(b("HANGUP"));
  assert.equal(u.commands, 5);
});

test("server: at EOF the unterminated tail is taken once; at a reset it is dropped", () => {
  const u = new UpstreamLines();
  u.push(b("EXEC Dial"));
  assert.equal(u.takeTail()?.toString(), "EXEC Dial");
  assert.equal(u.takeTail(), undefined);
  u.push(b("EXEC"));
  u.drop();
  assert.equal(u.cut, false);
  assert.equal(u.takeTail(), undefined);
});

test("server: a held line over the cap is LINE_TOO_LONG, and the lines before it in that read are not given", () => {
  assert.equal(MAX_UPSTREAM_LINE, 64 * 1024);
  assert.equal(new UpstreamLines(8).push(b("123456789")), LINE_TOO_LONG);
  assert.equal(new UpstreamLines(8).push(b("12345678")), undefined);
  assert.equal(new UpstreamLines(8).push(b("ok\n123456789")), LINE_TOO_LONG);
  const u = new UpstreamLines(8);
  assert.equal(u.push(b("12345")), undefined);
  assert.equal(u.push(b("6789")), LINE_TOO_LONG);
  // The cap bounds what is held: a line whose newline comes in the same read passes.
  assert.equal(new UpstreamLines(8).push(b("1234567890\n"))?.toString(), "1234567890\n");
  assert.deepEqual(frameAll([b("x".repeat(MAX_UPSTREAM_LINE + 1))]).tooLong, true);
  assert.deepEqual(frameAll([b("x".repeat(MAX_UPSTREAM_LINE))]).tooLong, false);
});

test("unsettled: a cut line first, then commands without their reply, else nothing", () => {
  assert.equal(unsettled(true, 0, 0), "server closed in the middle of a command line");
  assert.equal(unsettled(false, 3, 1), "server closed with 2 of 3 commands unanswered");
  assert.equal(unsettled(false, 3, 3), undefined);
  assert.equal(unsettled(false, 1, 2), undefined);
});

/** Lines as both sides write them, with the edges of each rule close by. */
const line = fc.oneof(
  fc.constantFrom(
    "HANGUP",
    "HANGUP\r",
    "HANGUPS",
    "520-Invalid command syntax.  Proper usage follows:",
    "Usage: STREAM FILE <filename> <escape digits>",
    "520 End of proper usage.",
    "520",
    "520\r",
    "200 result=0",
    "",
    "\r",
    "FAILURE",
    "failure",
    "FaIlUrE to launch",
    "FAIL",
    'STREAM FILE "x" ""',
  ),
  fc.string({ maxLength: 12 }),
);

/** The stream: lines joined by newlines, sometimes ending in an unterminated one. */
const stream = fc
  .tuple(fc.array(line, { maxLength: 30 }), fc.option(line, { nil: undefined }))
  .map(([lines, tail]) => b(lines.map((l) => `${l}\n`).join("") + (tail ?? "")))
  .filter((bytes) => bytes.length > 0);

/** Cut offsets into a buffer of `len` bytes: none, a few, or many. */
const cutsFor = (len: number) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, len - 1) }), {
      maxLength: Math.min(len, 40),
      size: "max",
    })
    .map((a) => a.filter((c) => c < len).sort((x, y) => x - y));

function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to > from) out.push(bytes.subarray(from, to));
    from = to;
  }
  return out;
}

/** The rules over whole lines, with no chunking at all. */
function model(bytes: Buffer) {
  const text = bytes.toString("latin1");
  const parts = text.split("\n");
  const last = parts.pop() as string;
  let replies = 0;
  let hangupSeen = false;
  let inUsage = false;
  let commands = 0;
  let failureSent = false;
  for (const l of last === "" ? parts : [...parts, last]) {
    if (l.slice(0, 7).toLowerCase() === "failure") failureSent = true;
    else commands++;
  }
  for (const l of parts) {
    if (l === "HANGUP" || l === "HANGUP\r") hangupSeen = true;
    else if (inUsage) {
      if (l.startsWith("520 ") || l === "520" || l === "520\r") {
        inUsage = false;
        replies++;
      }
    } else if (l.startsWith("520-")) inUsage = true;
    else if (l !== "" && l !== "\r") replies++;
  }
  return {
    asterisk: { replies, hangupSeen, firsts: hangupSeen ? 1 : 0 },
    server: {
      written: text.slice(0, text.lastIndexOf("\n") + 1),
      tail: last === "" ? undefined : last,
      cut: last !== "",
      tooLong: false,
      commands,
      failureSent,
    },
  };
}

test("property: whole or cut at random points, both sides read the same lines and counts as the whole-line model", () => {
  fc.assert(
    fc.property(
      stream.chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
      ([bytes, cuts]) => {
        const want = model(bytes);
        const chunks = split(bytes, cuts);
        assert.deepEqual(scanAll([bytes]), want.asterisk);
        assert.deepEqual(scanAll(chunks), want.asterisk);
        assert.deepEqual(frameAll([bytes]), want.server);
        assert.deepEqual(frameAll(chunks), want.server);
      },
    ),
    { numRuns: 300, plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })] },
  );
});
