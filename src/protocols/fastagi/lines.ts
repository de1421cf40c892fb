/**
 * The relay's reading of AGI lines, over bytes only (no sockets). Asterisk's side is read for
 * its unprompted HANGUP and its replies; the server's side is cut into whole lines, the only
 * thing written toward Asterisk (see FastAgiSession), and its command lines are counted. At
 * the server's close the two counts tell a normal end from a server gone mid-command.
 */

/** A line longer than this from an upstream is not AGI (Asterisk's own buffer is 2 KiB). */
export const MAX_UPSTREAM_LINE = 64 * 1024;

/** UpstreamLines.push's answer once a line held for its newline is longer than the cap. */
export const LINE_TOO_LONG: unique symbol = Symbol("line too long");

/** res_agi.c run_agi(): a line from the server starting with "failure", in any case, ends the AGI. */
const FAILURE_LOWER = Buffer.from("failure", "latin1");

/**
 * Reads Asterisk's lines by their first bytes: its unprompted `HANGUP` (the channel hung up)
 * is noted once; any other line is a reply, except the usage text of a multi-line `520-`
 * reply, which counts once, at its closing `520 ` line. Empty lines are no reply.
 */
export class AsteriskLines {
  #hangupSeen = false;
  #replies = 0;
  /** The first bytes of Asterisk's current line: enough to tell `HANGUP`, `520-` and `520 `. */
  #head = "";
  /** Inside a multi-line `520-` reply (its usage text), which ends with a line `520 `. */
  #inUsage = false;

  /** Asterisk has sent HANGUP: the channel hung up, and every command is settled. */
  get hangupSeen(): boolean {
    return this.#hangupSeen;
  }

  /** Reply lines read (HANGUPs not counted; a `520-` block counts once). */
  get replies(): number {
    return this.#replies;
  }

  /** Reads the next bytes from Asterisk; true when they hold its first HANGUP. */
  scan(chunk: Buffer): boolean {
    let first = false;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      // 8 bytes tell "HANGUP" and "HANGUP\r" from longer lines, and hold "520-" / "520 ".
      if (this.#head.length < 8 && end > start)
        this.#head += chunk.toString("latin1", start, Math.min(end, start + 8 - this.#head.length));
      if (nl < 0) return first;
      if (this.#line(this.#head)) first = true;
      this.#head = "";
      start = nl + 1;
    }
  }

  /** One whole line, by its head; true at the first HANGUP. */
  #line(head: string): boolean {
    if (head === "HANGUP" || head === "HANGUP\r") {
      if (this.#hangupSeen) return false;
      this.#hangupSeen = true;
      return true;
    }
    if (this.#inUsage) {
      if (head.startsWith("520 ") || head === "520" || head === "520\r") {
        this.#inUsage = false;
        this.#replies++;
      }
      return false;
    }
    if (head.startsWith("520-")) this.#inUsage = true;
    else if (head !== "" && head !== "\r") this.#replies++;
    return false;
  }
}

/**
 * Frames what the server sends into whole lines and counts the command lines among those
 * written: the tail of a chunk is held until its newline arrives, up to `maxLine` bytes.
 */
export class UpstreamLines {
  readonly #maxLine: number;
  #partial: Buffer | undefined;
  #commands = 0;
  #failureSent = false;

  constructor(maxLine: number = MAX_UPSTREAM_LINE) {
    this.#maxLine = maxLine;
  }

  /** Command lines counted (every line but a FAILURE one). */
  get commands(): number {
    return this.#commands;
  }

  /** A line starting "FAILURE" was counted (AGISTATUS=FAILURE). */
  get failureSent(): boolean {
    return this.#failureSent;
  }

  /** A line is held, waiting for its newline. */
  get cut(): boolean {
    return this.#partial !== undefined;
  }

  /**
   * Takes the next bytes from the server: the whole lines they complete (to write toward
   * Asterisk, and count() once written), undefined while a line waits for its newline, or
   * LINE_TOO_LONG once the line held is over the cap (the lines before it are not given).
   * The cap bounds what is held: a line completed by the read that brings its newline passes.
   */
  push(chunk: Buffer): Buffer | undefined | typeof LINE_TOO_LONG {
    let data = this.#partial ? Buffer.concat([this.#partial, chunk]) : chunk;
    const last = data.lastIndexOf(0x0a);
    if (last < 0) {
      this.#partial = data;
      return data.length > this.#maxLine ? LINE_TOO_LONG : undefined;
    }
    if (last + 1 < data.length) {
      this.#partial = data.subarray(last + 1);
      data = data.subarray(0, last + 1);
      if (this.#partial.length > this.#maxLine) return LINE_TOO_LONG;
    } else this.#partial = undefined;
    return data;
  }

  /**
   * Counts the command lines in `data` (whole lines, or the last line cut by EOF) and spots a
   * FAILURE line: only the first bytes of each line are looked at. Every other line is a
   * command: res_agi.c answers even an empty one (510).
   */
  count(data: Buffer): void {
    let start = 0;
    while (start < data.length) {
      if (startsWithFailure(data, start)) this.#failureSent = true;
      else this.#commands++;
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) return;
      start = nl + 1;
    }
  }

  /** At the server's FIN: the line it left unterminated, if any (res_agi.c runs it as a command). */
  takeTail(): Buffer | undefined {
    const tail = this.#partial;
    this.#partial = undefined;
    return tail;
  }

  /** At the server's close: a line held now was cut by a reset, and is no command. */
  drop(): void {
    this.#partial = undefined;
  }
}

/**
 * Why the server's close left the session mid-command, or undefined when it did not: a line
 * cut short, or commands written toward Asterisk without their reply.
 */
export function unsettled(cut: boolean, commands: number, replies: number): string | undefined {
  if (cut) return "server closed in the middle of a command line";
  if (commands > replies)
    return `server closed with ${commands - replies} of ${commands} commands unanswered`;
  return undefined;
}

function startsWithFailure(b: Buffer, at: number): boolean {
  if (b.length - at < FAILURE_LOWER.length) return false;
  // ASCII letters only: OR 0x20 lowers a capital and leaves a lower-case letter as it is.
  for (let i = 0; i < FAILURE_LOWER.length; i++) if ((b[at + i]! | 0x20) !== FAILURE_LOWER[i]) return false;
  return true;
}
