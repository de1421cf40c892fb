/**
 * A client's HTTP/1.1 connection on a raw socket: request heads read and checked
 * (head.ts), one request at a time (a pipelined next one waits in the buffer), its body
 * handed to whoever pulls it with backpressure, keep-alive between requests. What a client
 * may cost is bounded: the head's size and time, the whole request's time, idleness between
 * requests (checked by the listener's sweep), and a socket silent both ways (client_timeout).
 * An Upgrade request leaves this connection to the tunnel relay.
 */

import type { Socket } from "node:net";
import type { Link } from "../../../net/linked-set.ts";
import { flushAndDestroy } from "../../../net/write-batch.ts";
import { BodyFraming } from "./body-framing.ts";
import type { BodySink } from "./call-types.ts";
import type { ConnHandler, ConnLimits } from "./conn-types.ts";
import { errorAnswer, isHeadError, NO_BODY, parseRequestHead } from "./head.ts";
import { HeadPieces } from "./head-pieces.ts";
import { InboundRequest, type RequestConn, type ResponseMode } from "./inbound.ts";
import { routableTarget } from "./target.ts";

export type { ConnHandler, ConnLimits } from "./conn-types.ts";

/** A body already whole: no request's, or a bodiless one's. */
const NO_BODY_YET = new BodyFraming(NO_BODY, 0);

/** After an error answer, how long the client has to close its side. */
const REFUSE_GRACE_MS = 1_000;

/** Unread bytes held before the socket is paused. */
const HIGH = 64 * 1024;

export class ServerConn implements RequestConn {
  readonly socket: Socket;
  /** Its place in the listener's list of connections. */
  link: Link<ServerConn> | undefined;
  readonly #client: string;
  readonly #h: ConnHandler;
  #limits: ConnLimits;
  #buf: Buffer | undefined;
  #req: InboundRequest | undefined;
  /** When the head being read (or the wait for one) began; when the request began. */
  #since = performance.now();
  #served = 0;
  /** The current request's body: where it ends in what is read. */
  #body = NO_BODY_YET;
  #sink: BodySink | undefined;
  #paused = false;
  /** The current request's chunked body was malformed: nothing more is read. */
  #badBody = false;
  #closeAfter = false;
  /** The last answer is out and the connection ends: nothing more is read as a request. */
  #ending = false;
  #gone = false;
  /** #next is running: a request answered within it makes it loop, not recurse. */
  #inNext = false;
  #again = false;
  readonly #pieces = new HeadPieces();
  readonly #onData = (c: Buffer) => this.#read(c);
  readonly #onClose = () => this.#closed();
  readonly #onDrain = () => this.#req?.onDrain?.();
  readonly #onEnd = () => this.#peerEnded();
  /** The client sent its FIN: it sends nothing more, but still reads its answers. */
  #finReceived = false;
  /** When a byte last moved either way (-1: since the last sweep), and the bytes written then. */
  #io = -1;
  #written = 0;

  constructor(socket: Socket, limits: ConnLimits, h: ConnHandler) {
    this.socket = socket;
    this.#client = socket.remoteAddress ?? "";
    this.#limits = limits;
    this.#h = h;
    socket.setNoDelay(true);
    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onClose);
    socket.on("error", () => {});
  }

  set limits(l: ConnLimits) {
    this.#limits = l;
  }

  get bodyDone(): boolean {
    return this.#body.done;
  }

  #read(c: Buffer): void {
    this.#io = -1;
    if (this.#ending || this.#badBody) return;
    if (this.#buf === undefined) this.#buf = c;
    else if (this.#req !== undefined) this.#buf = Buffer.concat([this.#buf, c]);
    else {
      const joined = this.#pieces.add(this.#buf, c, this.#limits.maxHeaderSize);
      if (joined === undefined) return;
      this.#buf = joined;
    }
    if (this.#req === undefined) this.#next();
    else this.#pump();
    if (this.#buf !== undefined && this.#buf.length > HIGH && !this.#gone) this.socket.pause();
  }

  /** Reads the next request heads from the buffer while whole (a loop when answered at once). */
  #next(): void {
    if (this.#inNext) {
      this.#again = true;
      return;
    }
    this.#inNext = true;
    try {
      do {
        this.#again = false;
        this.#nextOne();
      } while (this.#again && this.#req === undefined && !this.#gone && !this.#ending);
    } finally {
      this.#inNext = false;
    }
  }

  #nextOne(): void {
    const buf = this.#buf;
    if (buf === undefined || this.#gone || this.#ending) return;
    const r = parseRequestHead(buf, 0, this.#limits.maxHeaderSize);
    if (r === undefined) return;
    // A target that routing cannot judge is refused as a bad head is (target.ts).
    if (isHeadError(r) || !routableTarget(r)) {
      this.#refuse(isHeadError(r) ? r.error : 400);
      return;
    }
    const rest = r.size === buf.length ? undefined : buf.subarray(r.size);
    this.#buf = rest;
    this.#since = performance.now();
    if (r.upgrade) {
      this.#detach();
      this.#h.upgrade(r, this.socket, rest ?? Buffer.alloc(0), this.#client);
      return;
    }
    const f = r.framing;
    this.#body = f.kind === "none" ? NO_BODY_YET : new BodyFraming(f, this.#limits.maxHeaderSize);
    const req = new InboundRequest(this, r, this.#client, this.#since);
    this.#req = req;
    this.#h.request(req);
  }

  // RequestConn: the body of the current request.

  sink(s: BodySink | undefined): void {
    this.#sink = s;
    this.#paused = false;
    if (s !== undefined) this.#pump();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  #pump(): void {
    while (!this.#body.done && this.#sink !== undefined && !this.#paused && this.#buf !== undefined) {
      const buf = this.#buf;
      const out: Buffer[] = [];
      const used = this.#body.take(buf, out);
      if (used < 0) {
        // Nothing after a body that cannot be followed can be framed (RFC 9112 §7.1): no more
        // is read, and the request's owner answers 400 if it still can (inbound.ts).
        this.#badBody = true;
        this.#sink = undefined;
        this.#buf = undefined;
        this.#req?.badBody();
        return;
      }
      this.#buf = used === buf.length ? undefined : buf.subarray(used);
      const sink = this.#sink;
      for (const piece of out) if (!sink.data(piece)) this.#paused = true;
      if (this.#body.done) sink.end();
    }
    if (!this.#paused && (this.#buf === undefined || this.#buf.length <= HIGH) && !this.#gone)
      this.socket.resume();
  }

  closing(mode: ResponseMode): boolean {
    const req = this.#req;
    if (req === undefined) return true;
    const lastRead = this.#finReceived && this.#buf === undefined;
    if (mode === "close" || !req.head.keepAlive || this.#h.draining() || !this.#body.done || lastRead)
      this.#closeAfter = true;
    return this.#closeAfter;
  }

  /** The answer of the current request is out whole: on to the next, or close. */
  finished(): void {
    const req = this.#req;
    if (req === undefined) return;
    this.#req = undefined;
    this.#sink = undefined;
    this.#served++;
    req.close();
    if (this.#closeAfter || !this.#body.done || this.#h.draining()) {
      this.#end();
      return;
    }
    this.#since = performance.now();
    this.#body = NO_BODY_YET;
    this.#next();
    if (this.#gone || this.#req !== undefined) return;
    if (this.#finReceived) this.#end();
    else this.socket.resume();
  }

  /**
   * The client half-closed (its FIN): requests already read are answered, as HAProxy and
   * nginx do, then the connection ends; a request whose head or body can no longer come
   * whole ends it at once.
   */
  #peerEnded(): void {
    this.#finReceived = true;
    if (this.#req === undefined) this.#end();
    else if (!this.#body.done) flushAndDestroy(this.socket);
  }

  /** An unreadable request: its status, then the connection closes. */
  #refuse(code: number): void {
    this.#end(errorAnswer(code));
  }

  /**
   * The connection ends after what was written (and `last`): no byte read from now on is a
   * request (RFC 9112 §9.6), and a client that never closes its side costs one more second.
   */
  #end(last?: string): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#closeAfter = true;
    this.#buf = undefined;
    this.#pieces.clear();
    const sock = this.socket;
    if (last === undefined) sock.end();
    else sock.end(last, "latin1");
    setTimeout(() => flushAndDestroy(sock), REFUSE_GRACE_MS).unref();
  }

  /** The listener's periodic check of the time bounds. */
  check(now: number): void {
    const l = this.#limits;
    // client_timeout: no byte read and none written for that long (a client that stops reading).
    const written = this.socket.bytesWritten;
    if (this.#io < 0 || written !== this.#written) {
      this.#io = now;
      this.#written = written;
    } else if (now - this.#io > l.clientTimeoutMs) {
      flushAndDestroy(this.socket);
      return;
    }
    const ms = now - this.#since;
    const req = this.#req;
    if (req === undefined) {
      // Idle between requests, with nothing read of the next one; else a head is awaited.
      if (this.#buf === undefined && this.#served > 0) {
        if (ms > l.idleTimeoutMs) flushAndDestroy(this.socket);
      } else if (ms > l.headerTimeoutMs) {
        if (this.#buf === undefined) flushAndDestroy(this.socket);
        else this.#refuse(408);
      }
    } else if (!this.#body.done && ms > l.requestTimeoutMs) {
      if (req.headersSent) flushAndDestroy(this.socket);
      else this.#refuse(408);
    }
  }

  /** Closes the connection if it waits for a request (a drain). */
  closeIfIdle(): void {
    if (this.#req === undefined && this.#buf === undefined) flushAndDestroy(this.socket);
  }

  #detach(): void {
    this.#gone = true;
    // Paused: what the client sends after the head waits in the socket for the relay, not lost.
    this.socket.off("data", this.#onData).off("close", this.#onClose).pause();
    this.#h.gone(this);
  }

  #closed(): void {
    if (this.#gone) return;
    this.#gone = true;
    const req = this.#req;
    this.#req = undefined;
    this.#sink = undefined;
    req?.close();
    this.#h.gone(this);
  }
}
