// stdout whose reader is stalled (a non-blocking pipe nobody reads, or reads a little):
// the README promises "the lines wait, up to 8 MiB, and beyond that are dropped and counted
// rather than stall the sessions". These tests hold the batched writer of `trunkline run`
// (LineSink) to that bound, counting what it accepted and what the pipe can hold.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LineSink } from "../../src/observe/line-sink.ts";

const MiB = 1024 * 1024;
/** What a Linux pipe holds by default, and one 64 KiB batch in flight: slack on the bound. */
const SLACK = 256 * 1024;

function fifoPair(): { dir: string; rd: number; wr: number } {
  const dir = mkdtempSync(join(tmpdir(), "obs-attack-fifo-"));
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wr = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  return { dir, rd, wr };
}

/** Reads what the pipe holds now, at most `max` bytes; returns the byte count. */
function drain(fd: number, max: number): number {
  const buf = Buffer.alloc(64 * 1024);
  let total = 0;
  while (total < max) {
    let n = 0;
    try {
      n = readSync(fd, buf, 0, Math.min(buf.length, max - total), null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") break;
      throw err;
    }
    if (n <= 0) break;
    total += n;
  }
  return total;
}

// A defect found by attacking the proxy, fixed: LineSink bounds its queue by string length (UTF-16 units), not bytes: lines of CJK text a client put in agi_request hold ~3x the promised 8 MiB (src/observe/line-sink.ts write()).
test("stdout nobody reads: non-ASCII lines (a caller's UTF-8 agi_request) are held up to 8 MiB of bytes, not 8 Mi characters", async () => {
  const { dir, rd, wr } = fifoPair();
  const sink = new LineSink(wr);
  try {
    // 3,001 bytes per line: 1,000 CJK characters (3 bytes each in UTF-8) and a newline.
    const line = `${"\u4e5d".repeat(1_000)}\n`;
    const bytesPerLine = Buffer.byteLength(line);
    const n = 12_000; // 36 MB offered
    for (let i = 0; i < n; i++) sink.write(line);
    await new Promise((r) => setTimeout(r, 100)); // a few retry ticks
    const accepted = n - sink.stats().dropped;
    const held = accepted * bytesPerLine;
    assert.ok(
      held <= 8 * MiB + SLACK,
      `${accepted} lines accepted: ${(held / MiB).toFixed(1)} MiB held or in the pipe, promised at most 8 MiB`,
    );
  } finally {
    sink.close();
    closeSync(rd);
    closeSync(wr);
    rmSync(dir, { recursive: true, force: true });
  }
});

// A defect found by attacking the proxy, fixed: bytes moved from the queue into LineSink's pending-write buffer (#rest) leave the 8 MiB count, so a reader that reads a little lets it hold 16 MiB (src/observe/line-sink.ts #flush()).
test("stdout with a reader that reads a little: what waits stays within 8 MiB (the pending write counts too)", async () => {
  const { dir, rd, wr } = fifoPair();
  const sink = new LineSink(wr);
  try {
    const line = `${"x".repeat(1_023)}\n`; // 1 KiB, ASCII
    let offered = 0;
    const offer = (count: number) => {
      for (let i = 0; i < count; i++) sink.write(line);
      offered += count;
    };
    offer(10_000); // 10 MiB: past the cap, some dropped
    await new Promise((r) => setTimeout(r, 60));
    // The reader takes one pipe's worth, once; the sink's retry moves its queue on.
    const read = drain(rd, 128 * 1024);
    await new Promise((r) => setTimeout(r, 60));
    offer(10_000);
    await new Promise((r) => setTimeout(r, 60));
    const accepted = offered - sink.stats().dropped;
    const waiting = accepted * line.length - read;
    assert.ok(
      waiting <= 8 * MiB + SLACK,
      `${(waiting / MiB).toFixed(1)} MiB waiting (in memory or in the pipe) after a reader read ${read} bytes; promised at most 8 MiB`,
    );
  } finally {
    sink.close();
    closeSync(rd);
    closeSync(wr);
    rmSync(dir, { recursive: true, force: true });
  }
});
