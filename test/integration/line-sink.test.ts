// The batched stdout of the logger (observe/line-sink.ts), on real descriptors: a child
// process's pipe for the exits, a non-blocking FIFO for a reader that does not read.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LineSink } from "../../src/observe/line-sink.ts";

const SINK = new URL("../../src/observe/line-sink.ts", import.meta.url).href;

/** Runs `body` in a child with a LineSink on fd 1 as `sink`; resolves with its stdout and exit code. */
function child(body: string): Promise<{ out: string; err: string; code: number | null }> {
  const src = `import { LineSink } from ${JSON.stringify(SINK)};\nconst sink = new LineSink(1);\n${body}`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", src], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    let err = "";
    p.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const t = setTimeout(() => p.kill("SIGKILL"), 20_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ out, err, code });
    });
  });
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => `{"n":${i}}\n`);

test("lines queued just before process.exit() are all written", async () => {
  const r = await child(
    `for (let i = 0; i < 20000; i++) sink.write('{"n":' + i + '}\\n');\nprocess.exit(3);`,
  );
  assert.equal(r.code, 3);
  assert.equal(r.out, lines(20_000).join(""));
});

test("lines queued before an uncaught exception are all written", async () => {
  const r = await child(
    `for (let i = 0; i < 500; i++) sink.write('{"n":' + i + '}\\n');\nsetImmediate(() => { throw new Error("boom"); });`,
  );
  assert.equal(r.code, 1);
  assert.equal(r.out, lines(500).join(""));
});

test("a burst of lines costs far fewer writes than lines, and they arrive in order", async () => {
  const r = await child(
    `for (let i = 0; i < 5000; i++) sink.write('{"n":' + i + '}\\n');\nsetTimeout(() => { process.stderr.write(JSON.stringify(sink.stats())); }, 200);`,
  );
  assert.equal(r.code, 0);
  assert.equal(r.out, lines(5_000).join(""));
  const stats = JSON.parse(r.err) as { lines: number; writes: number; dropped: number };
  assert.equal(stats.lines, 5_000);
  assert.equal(stats.dropped, 0);
  assert.ok(stats.writes <= 5, `5000 lines of about 12 bytes in ${stats.writes} writes`);
});

/** Line i of the UTF-8 test: every 97th over 4,096 characters, the rest short; 2-, 3- and 4-byte characters in each. */
function utf8Line(i: number): string {
  const chars = `${String.fromCodePoint(0xe9)}${String.fromCodePoint(0x20ac)}${String.fromCodePoint(0x1f600)}`;
  return i % 97 === 0
    ? `L${chars.repeat(1400)}${i}\n`
    : `{"n":${i},"s":"${chars} caf${String.fromCodePoint(0xe9)}"}\n`;
}

test("lines of any UTF-8 (2-, 3- and 4-byte characters) and long lines among short ones arrive intact and in order", async () => {
  // Short lines are copied into the batch as UTF-8 as they come; a long one (over 4,096
  // characters) waits in the queue behind the batch. Across several 64 KiB batches.
  const r = await child(
    `${utf8Line.toString()}
for (let i = 0; i < 3000; i++) sink.write(utf8Line(i));
setTimeout(() => { process.stderr.write(JSON.stringify(sink.stats())); }, 200);`,
  );
  assert.equal(r.code, 0, r.err);
  const expected = Array.from({ length: 3000 }, (_, i) => utf8Line(i)).join("");
  assert.ok(Buffer.byteLength(expected) > 3 * 64 * 1024, "the lines span several batches");
  assert.equal(r.out, expected);
  const stats = JSON.parse(r.err) as { lines: number; writes: number; dropped: number };
  assert.equal(stats.lines, 3000);
  assert.equal(stats.dropped, 0);
  assert.ok(stats.writes < 100, `${stats.writes} writes for 3000 lines`);
});

test("1,000 short lines go out in one write, within the flush delay", async () => {
  const { dir, rd, wr } = fifoPair();
  const sink = new LineSink(wr);
  try {
    for (const l of lines(1_000)) sink.write(l);
    const s = sink.stats();
    assert.equal(s.lines, 1_000);
    assert.ok(
      s.writes <= 1,
      `1000 short lines (under 64 KiB) are not written one by one: ${s.writes} writes`,
    );
    const got = await readUntil(rd, lines(1_000).join("").length, 5_000);
    assert.equal(got, lines(1_000).join(""));
    assert.equal(sink.stats().writes, 1);
    assert.equal(sink.stats().dropped, 0);
  } finally {
    sink.close();
    closeSync(rd);
    closeSync(wr);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a full non-blocking pipe (EAGAIN): lines wait and then arrive whole and in order; past the cap they are dropped and counted", async () => {
  const { dir, rd, wr } = fifoPair();
  const sink = new LineSink(wr);
  try {
    // 2 MiB: far more than a pipe holds (64 KiB by default), so writes hit EAGAIN.
    const big = `${"x".repeat(1_000)}\n`;
    for (let i = 0; i < 2_048; i++) sink.write(`${i} ${big}`);
    assert.equal(sink.stats().dropped, 0);
    let expected = "";
    for (let i = 0; i < 2_048; i++) expected += `${i} ${big}`;
    const got = await readUntil(rd, expected.length, 15_000);
    assert.equal(got.length, expected.length);
    assert.ok(got === expected, "every line arrives, in order");
    // Nobody reads now: beyond 8 MiB queued, lines are dropped, not kept.
    for (let i = 0; i < 10_000; i++) sink.write(big);
    const s = sink.stats();
    assert.ok(s.dropped > 0 && s.dropped < 10_000, `some of the lines past the cap dropped: ${s.dropped}`);
  } finally {
    closeSync(rd);
    sink.close();
    closeSync(wr);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Both ends of a new FIFO, non-blocking: what a LineSink meets when its reader is slow. */
function fifoPair(): { dir: string; rd: number; wr: number } {
  const dir = mkdtempSync(join(tmpdir(), "line-sink-"));
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wr = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  return { dir, rd, wr };
}

/** Reads a non-blocking descriptor until `bytes` arrived, polling every few ms, bounded. */
async function readUntil(fd: number, bytes: number, timeoutMs: number): Promise<string> {
  const buf = Buffer.alloc(256 * 1024);
  const parts: Buffer[] = [];
  let total = 0;
  const end = Date.now() + timeoutMs;
  while (total < bytes) {
    if (Date.now() > end) throw new Error(`read ${total} of ${bytes} bytes within ${timeoutMs} ms`);
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
    if (n > 0) {
      parts.push(Buffer.from(buf.subarray(0, n)));
      total += n;
    } else await new Promise((r) => setTimeout(r, 5));
  }
  return Buffer.concat(parts).toString("utf8");
}
