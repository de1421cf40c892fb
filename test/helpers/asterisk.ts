/**
 * A simulated Asterisk for FastAGI tests, built from the bytes a real Asterisk 23.4.1 sent
 * (test/fixtures/agi/) and behaving as Asterisk 23.4.1 was measured to (res_agi.c):
 * - the header goes first, optionally in small delayed pieces (Asterisk does not set
 *   TCP_NODELAY, so its lines arrive split);
 * - every whole command line gets a reply (default `200 result=0`); a multi-line 520 reply
 *   sends its continuation lines about 40 ms late, as observed;
 * - `HANGUP\n` is sent unprompted (with the header, or between a command and its reply),
 *   after which only replies follow;
 * - when the server closes, `HANGUP\n` once more (res_agi.c run_agi(), send_sighup), then end;
 * - a line beginning with `FAILURE` (any case) sets AGISTATUS=FAILURE and ends the session;
 * - refused or unanswered connects (MAX_AGI_CONNECT, 2000 ms) are FAILURE.
 */
import net from "node:net";
import tls from "node:tls";
import { CAPTURED_HEADER, headerForUrl } from "../../src/protocols/fastagi/asterisk-header.ts";

export const HANGUP = "HANGUP";
/** res_agi.c MAX_AGI_CONNECT. */
export const MAX_AGI_CONNECT_MS = 2000;
/** How late the continuation lines of a multi-line reply arrived from a real Asterisk. */
export const CONTINUATION_DELAY_MS = 40;

export interface AgiCallOptions {
  host?: string;
  port: number;
  /** Exact header bytes to send (including the closing empty line). */
  header?: Buffer;
  /** Used to rewrite agi_request/agi_network_script of the captured header when `header` is not given. */
  url?: string;
  /** Extra or replaced variables for the captured header (ignored when `header` is given). */
  vars?: Record<string, string>;
  /** Write the header (and replies) in pieces of `size` bytes, `delayMs` apart. */
  fragment?: { size: number; delayMs: number };
  /** HANGUP in the same write as the header. */
  earlyHangup?: boolean;
  /** Unprompted HANGUP after the Nth command (1-based), before that command's reply. */
  hangupAfterCommands?: number;
  /** Reply lines for a command; an array is a multi-line (520) reply. */
  reply?: (command: string, index: number) => string | string[];
  tls?: tls.ConnectionOptions;
  /** Bound on the whole session; default 5000 ms. */
  timeoutMs?: number;
}

export interface AgiCallResult {
  /** AGISTATUS as the dialplan would see it; ERROR for a reset or our own timeout. */
  status: "SUCCESS" | "FAILURE" | "ERROR";
  /** Every non-empty line the server sent, without its line ending. */
  commands: string[];
  /** Every byte the server sent. */
  raw: Buffer;
  closedBy: "server" | "timeout" | "error";
  durationMs: number;
  /** The error, when closedBy is "error". */
  error?: Error;
}

/** Splits a byte stream into lines (`\n`, tolerating `\r\n`), holding a partial line. */
export class LineReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    const data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl;
      lines.push(data.toString("utf8", start, end));
      start = nl + 1;
    }
    this.#pending = data.subarray(start);
    return lines;
  }

  get pending(): Buffer {
    return this.#pending;
  }
}

export function defaultHeader(opts: { url?: string; vars?: Record<string, string> } = {}): Buffer {
  let h = opts.url === undefined ? CAPTURED_HEADER : headerForUrl(CAPTURED_HEADER, opts.url);
  for (const [name, value] of Object.entries(opts.vars ?? {})) h = setVar(h, name, value);
  return h;
}

/** Replaces a variable's line in place, or adds it before the closing empty line. */
export function setVar(header: Buffer, name: string, value: string): Buffer {
  const prefix = Buffer.from(`${name}:`, "latin1");
  const line = Buffer.from(`${name}: ${value}\n`, "utf8");
  let start = 0;
  while (start < header.length) {
    const nl = header.indexOf(0x0a, start);
    if (nl < 0) break;
    if (nl === start || (nl === start + 1 && header[start] === 0x0d)) {
      return Buffer.concat([header.subarray(0, start), line, header.subarray(start)]);
    }
    if (header.subarray(start, start + prefix.length).equals(prefix)) {
      return Buffer.concat([header.subarray(0, start), line, header.subarray(nl + 1)]);
    }
    start = nl + 1;
  }
  return Buffer.concat([header, line]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function agiCall(opts: AgiCallOptions): Promise<AgiCallResult> {
  const started = performance.now();
  const host = opts.host ?? "127.0.0.1";
  const header =
    opts.header ??
    defaultHeader({ ...(opts.url ? { url: opts.url } : {}), ...(opts.vars ? { vars: opts.vars } : {}) });
  const timeoutMs = opts.timeoutMs ?? 5000;

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const commands: string[] = [];
    const lines = new LineReader();
    let status: AgiCallResult["status"] = "SUCCESS";
    let connected = false;
    let finished = false;
    let hungUp = false;
    let finalHangupSent = false;
    /** Writes are chained so fragments and delayed continuation lines never interleave. */
    let writing: Promise<void> = Promise.resolve();

    const sock: net.Socket = opts.tls
      ? tls.connect({ ...opts.tls, host, port: opts.port, allowHalfOpen: true } as tls.ConnectionOptions)
      : net.connect({ host, port: opts.port, allowHalfOpen: true });
    // Our writes must leave as we cut them; fragmenting is simulated explicitly. allowHalfOpen:
    // after the server's FIN, Asterisk still writes its final HANGUP.
    sock.setNoDelay(true);

    const finish = (closedBy: AgiCallResult["closedBy"], error?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(overall);
      clearTimeout(connectTimer);
      sock.destroy();
      resolve({
        status,
        commands,
        raw: Buffer.concat(chunks),
        closedBy,
        durationMs: performance.now() - started,
        ...(error ? { error } : {}),
      });
    };

    const overall = setTimeout(() => {
      if (status === "SUCCESS") status = connected ? "ERROR" : "FAILURE";
      finish("timeout");
    }, timeoutMs);
    const connectTimer = setTimeout(() => {
      if (connected) return;
      status = "FAILURE";
      finish("timeout");
    }, MAX_AGI_CONNECT_MS);

    const send = (data: Buffer, delayMs = 0) => {
      writing = writing.then(async () => {
        if (delayMs > 0) await sleep(delayMs);
        if (finished || sock.destroyed || !sock.writable) return;
        const f = opts.fragment;
        if (!f || f.size <= 0) {
          sock.write(data);
          return;
        }
        for (let i = 0; i < data.length; i += f.size) {
          if (i > 0) await sleep(f.delayMs);
          if (finished || sock.destroyed || !sock.writable) return;
          sock.write(data.subarray(i, i + f.size));
        }
      });
    };

    /** The HANGUP Asterisk writes when the AGI ends, then it closes the socket. */
    const endSession = (closedBy: AgiCallResult["closedBy"]) => {
      if (!finalHangupSent && sock.writable && !sock.destroyed) {
        finalHangupSent = true;
        send(Buffer.from(`${HANGUP}\n`));
      }
      void writing.then(() => {
        if (finished) return;
        sock.end(() => finish(closedBy));
        // A peer that is gone cannot acknowledge the end; do not wait on it.
        setTimeout(() => finish(closedBy), 200).unref();
      });
    };

    sock.once(opts.tls ? "secureConnect" : "connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      send(opts.earlyHangup ? Buffer.concat([header, Buffer.from(`${HANGUP}\n`)]) : header);
      if (opts.earlyHangup) hungUp = true;
    });

    sock.on("data", (chunk: Buffer) => {
      if (finished) return;
      chunks.push(chunk);
      for (const line of lines.push(chunk)) {
        if (line === "") continue;
        const index = commands.length;
        commands.push(line);
        // res_agi.c run_agi(): a line starting with "failure" ends the AGI with FAILURE.
        if (/^failure/i.test(line)) {
          status = "FAILURE";
          endSession("server");
          return;
        }
        if (!hungUp && opts.hangupAfterCommands !== undefined && index + 1 >= opts.hangupAfterCommands) {
          hungUp = true;
          send(Buffer.from(`${HANGUP}\n`));
        }
        const r = opts.reply ? opts.reply(line, index) : "200 result=0";
        const replyLines = Array.isArray(r) ? r : [r];
        const [first, ...rest] = replyLines;
        if (first !== undefined) send(Buffer.from(`${first}\n`, "utf8"));
        if (rest.length > 0)
          send(Buffer.from(rest.map((l) => `${l}\n`).join(""), "utf8"), CONTINUATION_DELAY_MS);
      }
    });

    sock.on("end", () => endSession("server"));
    sock.on("error", (err: Error) => {
      if (finished) return;
      if (!connected) {
        status = "FAILURE";
        finish("error", err);
        return;
      }
      // After the server closed, a write of the final HANGUP may hit a reset: still a normal end.
      if (finalHangupSent) {
        finish("server");
        return;
      }
      if (status === "SUCCESS") status = "ERROR";
      finish("error", err);
    });
    sock.on("close", () => {
      // A close without FIN or error (e.g. a TLS peer that just went away) is still the server ending it.
      if (!finished) finish("server");
    });
  });
}
