/**
 * One request read from a client connection and its answer: the request's head, its body as
 * a source that one upstream try at a time may pull (bytes as framed on the wire), and the
 * response written straight to the socket (a small answer goes out with its head in one
 * write). `closed(finished)` is called once: when the answer was handed to the kernel whole,
 * or when the connection ended before.
 */

import type { Socket } from "node:net";
import { batchedWrite, flushAndDestroy, isHeld, whenFlushed } from "../../../net/write-batch.ts";
import type { BodySink, BodySource } from "./call-types.ts";
import type { Framing, RequestHead } from "./head.ts";

/** How the answer's body is delimited toward the client. */
export type ResponseMode = "none" | "length" | "chunked" | "close";

/** The mode for an answer framed `f` to a client of HTTP/1.`minor` (chunked is de-chunked for 1.0). */
export function responseMode(f: Framing["kind"], minor: 0 | 1): ResponseMode {
  return f === "chunked" ? (minor === 1 ? "chunked" : "close") : f;
}

/** What the request asks of the connection that read it. */
export interface RequestConn {
  readonly socket: Socket;
  /** Body bytes start flowing to `sink` (or stop: undefined). */
  sink(s: BodySink | undefined): void;
  pause(): void;
  resume(): void;
  /** The body has been read whole (or there is none). */
  readonly bodyDone: boolean;
  /** Whether the connection ends after this answer (the client's wish, a drain, an unread body). */
  closing(mode: ResponseMode): boolean;
  /** The answer was written whole. */
  finished(): void;
}

const SMALL = 16 * 1024;
const EMPTY = Buffer.alloc(0);

export class InboundRequest implements BodySource {
  readonly head: RequestHead;
  readonly client: string;
  /** When its head was read whole (performance.now()). */
  readonly t0: number;
  readonly #conn: RequestConn;
  #taken = 0;
  #pendingHead: string | undefined;
  #headersSent = false;
  #continued = false;
  #ended = false;
  #done = false;
  /** The client is ready for more of the answer (after write() returned false). */
  onDrain: (() => void) | undefined;
  /** Once: the answer went out whole (true), or the connection ended first (false). */
  onClose: ((finished: boolean) => void) | undefined;
  /** The body turned out malformed; unset, the connection is cut. */
  onBadBody: (() => void) | undefined;

  constructor(conn: RequestConn, head: RequestHead, client: string, t0: number) {
    this.#conn = conn;
    this.head = head;
    this.client = client;
    this.t0 = t0;
  }

  // The body, as a source for one upstream try at a time.

  get taken(): number {
    return this.#taken;
  }

  get bodyDone(): boolean {
    return this.#conn.bodyDone;
  }

  start(sink: BodySink): void {
    this.#conn.sink({
      data: (c) => {
        this.#taken += c.length;
        return sink.data(c);
      },
      end: () => sink.end(),
    });
  }

  pause(): void {
    this.#conn.pause();
  }

  resume(): void {
    this.#conn.resume();
  }

  stop(): void {
    this.#conn.sink(undefined);
  }

  /** The chunked body is malformed (the connection reads no more). */
  badBody(): void {
    const cb = this.onBadBody;
    this.onBadBody = undefined;
    if (cb === undefined) this.destroy();
    else cb();
  }

  // The answer.

  get headersSent(): boolean {
    return this.#headersSent || this.#pendingHead !== undefined;
  }

  get finished(): boolean {
    return this.#done;
  }

  /**
   * Drops an answer's head not yet written, so that another answer may take its place;
   * false when bytes of an answer have already gone out (or it ended): nothing can replace it.
   */
  retract(): boolean {
    if (this.#headersSent || this.#ended) return false;
    this.#pendingHead = undefined;
    return true;
  }

  /** 100 Continue (once, whatever the tries): a client that sent `Expect: 100-continue` may send its body now. */
  sendContinue(): void {
    if (this.#continued || this.headersSent) return;
    this.#continued = true;
    this.#conn.socket.write("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
  }

  /**
   * An interim answer (103 Early Hints...), for an HTTP/1.1 client only (RFC 9110 §15.2);
   * false: the client is not reading, wait for onDrain.
   */
  writeInterim(head: string): boolean {
    if (this.head.minor === 1 && !this.headersSent && !this.#conn.socket.destroyed)
      return this.#conn.socket.write(`${head}\r\n`, "latin1");
    return true;
  }

  /**
   * Refuses the request (its body turned out malformed) with `code` and no body, in place of
   * an answer's head not yet written; false when bytes of an answer have already gone out.
   */
  refuse(code: 400): boolean {
    if (!this.retract()) return false;
    this.writeHead(code, "Bad Request", ["Content-Length", "0"], "length");
    this.end();
    return true;
  }

  /** `headers`: name, value pairs (no framing or Connection field: those are set here). */
  writeHead(status: number, reason: string, headers: readonly string[], mode: ResponseMode): void {
    let s = `HTTP/1.1 ${status} ${reason}\r\n`;
    for (let i = 0; i + 1 < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.writeHeadText(s, mode);
  }

  /**
   * A head's status line and fields (each line with its CRLF); framing, Connection and the
   * empty line are added here. `codings`: those the server applied before chunked ("gzip, "),
   * named again so the client can undo them.
   */
  writeHeadText(head: string, mode: ResponseMode, codings = ""): void {
    let s = head;
    if (mode === "chunked") s += `Transfer-Encoding: ${codings}chunked\r\n`;
    if (this.#conn.closing(mode)) s += "Connection: close\r\n";
    else if (this.head.minor === 0) s += "Connection: keep-alive\r\n";
    this.#pendingHead = `${s}\r\n`;
  }

  /** Writes body bytes (with the head, the first time); false: wait for onDrain. */
  write(chunk: Buffer): boolean {
    const sock = this.#conn.socket;
    if (this.#ended || sock.destroyed) return false;
    const head = this.#pendingHead;
    if (head === undefined) return sock.write(chunk);
    this.#pendingHead = undefined;
    this.#headersSent = true;
    if (chunk.length <= SMALL) {
      // One buffer, one write(2): the head and a small body together.
      const out = Buffer.allocUnsafe(head.length + chunk.length);
      out.write(head, 0, "latin1");
      chunk.copy(out, head.length);
      return batchedWrite(sock, out);
    }
    sock.cork();
    sock.write(head, "latin1");
    const ok = sock.write(chunk);
    sock.uncork();
    return ok;
  }

  /** The answer is complete (`last`: its final bytes). */
  end(last?: Buffer): void {
    if (this.#ended) return;
    const sock = this.#conn.socket;
    if (last !== undefined || this.#pendingHead !== undefined) this.write(last ?? EMPTY);
    this.#ended = true;
    if (sock.destroyed) return;
    // The next request is not read before this answer is handed to the kernel.
    if (isHeld(sock)) whenFlushed(() => this.#flushed());
    else this.#flushed();
  }

  #flushed(): void {
    const sock = this.#conn.socket;
    if (sock.destroyed) return;
    // Written through to the kernel already (the usual small answer): done now.
    if (sock.writableLength === 0) this.#finish();
    else sock.write(EMPTY, () => this.#finish());
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn.finished();
  }

  /** The connection ended: tells the owner once. */
  close(): void {
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(this.#done);
  }

  destroy(): void {
    this.#ended = true;
    flushAndDestroy(this.#conn.socket);
  }
}
