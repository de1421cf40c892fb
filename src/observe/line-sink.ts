import { writeSync } from "node:fs";

/** Bytes held (the batch and the queue) that make a write at once, rather than at the next tick of the clock. */
const FLUSH_BYTES = 64 * 1024;
/** A line this long or shorter goes into the batch while the descriptor keeps up (write()). */
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
 * Log lines to a file descriptor (stdout), batched: a line is copied into a batch, and the
 * batch is written with one write(2) when it holds FLUSH_BYTES, or FLUSH_MS after its first line.
 * Under load that is one system call for dozens of lines instead of one each, and no line
 * is formatted twice. Nothing is lost at exit: the process's 'exit' hook writes what is held
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
  /**
   * The usual lines, copied in as UTF-8 as they come: no string is kept until the write and
   * none is joined then (a join of a batch's lines read each line's pieces again, about
   * 0.7 µs a line). Room for one more short line at its most bytes past FLUSH_BYTES.
   */
  readonly #batch = Buffer.allocUnsafe(FLUSH_BYTES + 3 * SHORT_LINE);
  #used = 0;
  /** Lines that came during a stall, or after a long one: written after the batch. */
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
    if (this.#broken) {
      this.#dropped++;
      return;
    }
    // The usual line, while the descriptor keeps up: into the batch. A UTF-16 unit is at most
    // 3 bytes of UTF-8, so a short line always fits below FLUSH_BYTES + 3 * SHORT_LINE.
    if (this.#rest === undefined && this.#queue.length === 0 && line.length <= SHORT_LINE) {
      this.#used += this.#batch.write(line, this.#used, "utf8");
      if (this.#used < FLUSH_BYTES) this.#timer ??= setTimeout(() => this.#flushNow(), FLUSH_MS).unref();
      else this.#flushNow();
      return;
    }
    // Bytes, not characters, and what a partial write left counts too: MAX_QUEUED bounds
    // everything held. A stall (#rest) is counted exactly from its start.
    const bytes =
      this.#rest === undefined && line.length <= SHORT_LINE ? line.length : Buffer.byteLength(line);
    if (this.#used + this.#queued + (this.#rest?.length ?? 0) + bytes > MAX_QUEUED) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queued += bytes;
    if (this.#used + this.#queued < FLUSH_BYTES || this.#rest !== undefined)
      this.#timer ??= setTimeout(() => this.#flushNow(), FLUSH_MS).unref();
    else this.#flushNow();
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

  /** Writes what is held now (from write(), or when the timer fires); on a full pipe, tries again in RETRY_MS. */
  #flushNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#flush()) this.#timer = setTimeout(() => this.#flushNow(), RETRY_MS).unref();
  }

  /**
   * Writes what is held, oldest first: a partial write's rest, the batch, the queue. True when
   * nothing is left (or nothing can ever be written); false on a full pipe (EAGAIN).
   */
  #flush(): boolean {
    if (this.#broken) return true;
    for (;;) {
      let buf = this.#rest;
      // The batch is written from where it is; what a partial write leaves of it is copied out.
      let fromBatch = false;
      if (buf === undefined && this.#used > 0) {
        buf = this.#batch.subarray(0, this.#used);
        this.#used = 0;
        fromBatch = true;
      } else if (buf === undefined && this.#queue.length > 0) {
        buf = Buffer.from(this.#queue.length === 1 ? (this.#queue[0] as string) : this.#queue.join(""));
        this.#queue = [];
        this.#queued = 0;
      }
      if (buf === undefined) return true;
      this.#rest = undefined;
      try {
        while (buf.length > 0) {
          this.#writes++;
          const n = writeSync(this.#fd, buf);
          buf = buf.subarray(n);
        }
      } catch (err) {
        this.#rest = fromBatch ? Buffer.from(buf) : buf;
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") return false;
        this.#broken = true;
        this.#giveUp();
        return true;
      }
    }
  }

  #giveUp(): void {
    if (this.#rest !== undefined) this.#dropped += countLines(this.#rest);
    if (this.#used > 0) this.#dropped += countLines(this.#batch.subarray(0, this.#used));
    for (const l of this.#queue) this.#dropped += countLines(l);
    this.#rest = undefined;
    this.#used = 0;
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
