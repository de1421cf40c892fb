import { writeSync } from "node:fs";

/**
 * Queued bytes (short lines count their characters, see write()) that make a write at once,
 * rather than at the next tick of the clock.
 */
const FLUSH_BYTES = 64 * 1024;
/** A line this long or shorter counts its characters while the descriptor keeps up (write()). */
const SHORT_LINE = 4_096;
/** How long a line may wait in the queue before it is written. */
const FLUSH_MS = 25;
/** When the reader of a non-blocking pipe is slow (EAGAIN): the next try. */
const RETRY_MS = 10;
/** Bytes kept for a reader that does not read; lines beyond them are dropped and counted. */
const MAX_QUEUED = 8 * 1024 * 1024;
/** At exit, how long a full pipe is waited on before the rest is given up. */
const EXIT_WAIT_MS = 2_000;

export interface LineSinkStats {
  /** Lines handed to write(). */
  readonly lines: number;
  /** write(2) calls made. */
  readonly writes: number;
  /** Lines given up: the queue was full, or the descriptor failed (EPIPE, EBADF). */
  readonly dropped: number;
}

/** The sinks still open, flushed by one 'exit' hook however many loggers a process makes. */
const open = new Set<LineSink>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const s of open) s.flushSync();
  });
}

/**
 * Log lines to a file descriptor (stdout), batched: a line joins a queue, and the queue is
 * written with one write(2) when it holds FLUSH_BYTES, or FLUSH_MS after its first line.
 * Under load that is one system call for dozens of lines instead of one each, and no line
 * is formatted twice. Nothing is lost at exit: the process's 'exit' hook writes the queue
 * synchronously (a normal exit, process.exit(), an uncaught exception); only a SIGKILL or
 * a crash of the runtime itself can lose the last FLUSH_MS of lines.
 *
 * A pipe whose reader is slow: a blocking descriptor blocks the write, as any program's
 * stdout does; a non-blocking one (EAGAIN) keeps the rest and tries again every RETRY_MS,
 * holding at most MAX_QUEUED bytes, beyond which lines are dropped and counted, so a
 * stalled reader never stalls sessions nor grows memory without bound. A broken descriptor
 * (EPIPE, EBADF) ends the writing; the lines are counted as dropped.
 */
export class LineSink {
  readonly #fd: number;
  #queue: string[] = [];
  #queued = 0;
  /** What a partial write left, written before anything newer. */
  #rest: Buffer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #broken = false;
  #lines = 0;
  #writes = 0;
  #dropped = 0;

  constructor(fd: number) {
    this.#fd = fd;
    open.add(this);
    hookExit();
  }

  stats(): LineSinkStats {
    return { lines: this.#lines, writes: this.#writes, dropped: this.#dropped };
  }

  write(line: string): void {
    this.#lines++;
    // Bytes, not characters (a caller's UTF-8 takes up to 3 bytes a character), and what a
    // partial write left counts too: MAX_QUEUED bounds everything held. While the descriptor
    // takes what is written, a short line counts its characters: the queue is written at
    // FLUSH_BYTES, far below the bound, and measuring its UTF-8 would read every line once
    // more on the hot path (a flat copy of it, per access line). A stall (#rest) is counted
    // exactly from its start: what was queued becomes #rest, bytes.
    const bytes =
      this.#rest === undefined && line.length <= SHORT_LINE ? line.length : Buffer.byteLength(line);
    if (this.#broken || this.#queued + (this.#rest?.length ?? 0) + bytes > MAX_QUEUED) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queued += bytes;
    if (this.#queued < FLUSH_BYTES || this.#rest !== undefined) {
      this.#timer ??= setTimeout(() => this.#tick(), FLUSH_MS).unref();
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#flush()) this.#timer = setTimeout(() => this.#tick(), RETRY_MS).unref();
  }

  /** Writes everything now, waiting (bounded) on a full pipe. For exit and close. */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + EXIT_WAIT_MS;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (!this.#flush()) {
      if (Date.now() >= deadline) {
        this.#giveUp();
        return;
      }
      Atomics.wait(nap, 0, 0, 1);
    }
  }

  /** Flushes and stops: later lines are dropped. */
  close(): void {
    this.flushSync();
    this.#broken = true;
    open.delete(this);
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#flush()) this.#timer = setTimeout(() => this.#tick(), RETRY_MS).unref();
  }

  /** One pass of writing; true when nothing is left (or nothing can ever be written). */
  #flush(): boolean {
    if (this.#broken) return true;
    if (this.#rest === undefined) {
      if (this.#queue.length === 0) return true;
      this.#rest = Buffer.from(this.#queue.length === 1 ? (this.#queue[0] as string) : this.#queue.join(""));
      this.#queue = [];
      this.#queued = 0;
    }
    let buf = this.#rest;
    try {
      while (buf.length > 0) {
        this.#writes++;
        const n = writeSync(this.#fd, buf);
        buf = buf.subarray(n);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
        this.#rest = buf;
        return false;
      }
      this.#broken = true;
      this.#giveUp();
      return true;
    }
    this.#rest = undefined;
    // Lines queued while a partial write waited are written in the same pass.
    return this.#queue.length === 0 ? true : this.#flush();
  }

  #giveUp(): void {
    if (this.#rest !== undefined) this.#dropped += countLines(this.#rest);
    for (const l of this.#queue) this.#dropped += countLines(l);
    this.#rest = undefined;
    this.#queue = [];
    this.#queued = 0;
  }
}

function countLines(s: string | Buffer): number {
  let n = 0;
  let at = s.indexOf("\n");
  while (at >= 0) {
    n++;
    at = s.indexOf("\n", at + 1);
  }
  return Math.max(n, 1);
}
