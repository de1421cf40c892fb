/**
 * One request over one upstream connection: the head written, the body streamed from the
 * client with its backpressure, the response head parsed (1xx skipped), the body relayed as
 * it is framed on the wire until its end (a length, the last chunk, or the server's close),
 * then the connection goes back to its pool when it can carry another request.
 * `upstream_timeout` bounds the wait for the final head (as a whole, from the request sent)
 * and each silence in the body.
 */

import { ErrorCodes, TrunklineError } from "../../../core/errors.ts";
import { batchedWrite, flushAndDestroy } from "../../../net/write-batch.ts";
import type { BodySource, CallHandler } from "./call-types.ts";
import { ChunkedRelay } from "./chunked-relay.ts";
import { type Framing, isHeadError, parseResponseHead, type ResponseHead } from "./head.ts";
import { type ConnUser, idleLimitOf, type UpstreamConn } from "./upstream-pool.ts";

export type { BodySink, BodySource, CallHandler } from "./call-types.ts";

/** A response head larger than this is refused (a server's headers, not a client's). */
const MAX_RESPONSE_HEAD = 64 * 1024;
/**
 * Interim answers (1xx) one request may get before its final one. RFC 9110 §15.2 sets no
 * bound; a server that sends 100s or 103s forever would hold the request (and flood the
 * client) for good. Real ones send one or two.
 */
export const MAX_INTERIM = 32;

export class UpstreamCall implements ConnUser {
  readonly #conn: UpstreamConn;
  readonly #method: string;
  readonly #h: CallHandler;
  readonly #body: BodySource | undefined;
  /** Decode a chunked answer to its data (for an HTTP/1.0 client). */
  readonly #decode: boolean;
  #buf: Buffer | undefined;
  #head: ResponseHead | undefined;
  #framing: Framing | undefined;
  #left = 0;
  #relay: ChunkedRelay | undefined;
  #sentAll = false;
  #extra = false;
  #over = false;
  #got = 0;
  #interims = 0;
  #held = false;
  /** Since when the server has not taken the body's bytes (0: it takes them). */
  #blockedAt = 0;
  /** Since when the server owes us bytes (the request sent, or its last bytes read). */
  #since = 0;

  constructor(
    conn: UpstreamConn,
    method: string,
    body: BodySource | undefined,
    decode: boolean,
    h: CallHandler,
  ) {
    this.#conn = conn;
    this.#method = method;
    this.#body = body;
    this.#decode = decode;
    this.#h = h;
  }

  start(head: string): void {
    const c = this.#conn;
    c.user = this;
    const sock = c.socket;
    batchedWrite(sock, head, "latin1");
    if (this.#body === undefined) {
      this.#sentAll = true;
      this.#since = performance.now();
      return;
    }
    this.#body.start({
      data: (chunk) => {
        if (this.#over) return false;
        if (sock.write(chunk)) return true;
        // The server reads nothing of the body: upstream_timeout counts from here.
        if (this.#blockedAt === 0) this.#blockedAt = performance.now();
        return false;
      },
      end: () => {
        this.#sentAll = true;
        this.#since = performance.now();
      },
    });
  }

  /** The client is ready for more of the answer: the server's silence counts again. */
  resume(): void {
    if (this.#over || !this.#held) return;
    this.#held = false;
    this.#since = performance.now();
    this.#conn.socket.resume();
  }

  /** The client left: the connection cannot be trusted with another request. */
  abort(): void {
    if (this.#over) return;
    this.#over = true;
    this.#body?.stop();
    this.#conn.user = undefined;
    flushAndDestroy(this.#conn.socket);
  }

  drain(): void {
    this.#blockedAt = 0;
    if (!this.#sentAll) this.#body?.resume();
  }

  data(chunk: Buffer): void {
    if (this.#over) return;
    this.#got += chunk.length;
    if (this.#head !== undefined) {
      // Between body chunks, each read is progress; the head's wait is bounded as a whole
      // (a head trickled a byte at a time, or endless 1xx, would reset it forever).
      this.#since = -1;
      this.#bodyBytes(chunk);
      return;
    }
    const buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    let at = 0;
    for (;;) {
      const r = parseResponseHead(buf, at, MAX_RESPONSE_HEAD, this.#method);
      if (r === undefined) {
        this.#buf = at === 0 ? buf : buf.subarray(at);
        return;
      }
      if (isHeadError(r)) {
        this.#fail(new TrunklineError(ErrorCodes.UPSTREAM_GONE, `bad response: ${r.reason}`));
        return;
      }
      at += r.size;
      if (r.status === 101) {
        // Only an upgrade may be answered 101 (upgrade.ts); this request asked none, and what
        // follows is another protocol (RFC 9110 §15.2.2): an invalid answer, not one to wait on.
        this.#fail(
          new TrunklineError(
            ErrorCodes.UPSTREAM_GONE,
            "bad response: 101 to a request that asked no upgrade",
          ),
        );
        return;
      }
      if (r.status < 200 && ++this.#interims > MAX_INTERIM) {
        this.#fail(
          new TrunklineError(ErrorCodes.UPSTREAM_GONE, `bad response: over ${MAX_INTERIM} interim answers`),
        );
        return;
      }
      // 100 answers an Expect the proxy did not pass on.
      if (r.status < 200 && r.status !== 100 && !this.#h.interim(r)) this.#hold();
      if (this.#over) return;
      if (r.status >= 200 && this.#decode && r.codings !== "") {
        // HTTP/1.0 has no transfer codings: its client would get the bytes coded and unnamed.
        // The request went without TE, so chunked alone was allowed (RFC 9110 §10.1.4).
        this.#fail(
          new TrunklineError(
            ErrorCodes.UPSTREAM_GONE,
            `bad response: Transfer-Encoding ${r.codings}chunked to an HTTP/1.0 client`,
          ),
        );
        return;
      }
      if (r.status >= 200) {
        this.#buf = undefined;
        // Bytes after an answer that is whole at its head (no body): the server said more than
        // it was asked; the connection is not trusted with another request.
        if (
          at < buf.length &&
          (r.framing.kind === "none" || (r.framing.kind === "length" && r.framing.length === 0))
        )
          this.#extra = true;
        this.#begin(r);
        if (!this.#over && at < buf.length) this.#bodyBytes(buf.subarray(at));
        return;
      }
    }
  }

  #begin(h: ResponseHead): void {
    this.#head = h;
    this.#conn.idleLimitMs = idleLimitOf(h);
    this.#framing = h.framing;
    if (h.framing.kind === "length") this.#left = h.framing.length;
    else if (h.framing.kind === "chunked") this.#relay = new ChunkedRelay(this.#decode);
    this.#h.head(h);
    if (h.framing.kind === "none" || (h.framing.kind === "length" && h.framing.length === 0))
      this.#complete();
  }

  #bodyBytes(chunk: Buffer): void {
    const f = this.#framing as Framing;
    if (f.kind === "close") {
      this.#deliver(chunk);
      return;
    }
    if (f.kind === "length") {
      const take = Math.min(this.#left, chunk.length);
      this.#left -= take;
      if (take < chunk.length) this.#extra = true;
      if (take > 0) this.#deliver(take === chunk.length ? chunk : chunk.subarray(0, take));
      if (this.#left === 0 && !this.#over) this.#complete();
      return;
    }
    if (f.kind === "none") {
      this.#extra = true;
      return;
    }
    const out: Buffer[] = [];
    const step = (this.#relay as ChunkedRelay).feed(chunk, out);
    if (step.error !== undefined) {
      this.#fail(new TrunklineError(ErrorCodes.UPSTREAM_GONE, `bad chunked body: ${step.error}`));
      return;
    }
    if (step.used < chunk.length) this.#extra = true;
    for (const b of out) this.#deliver(b);
    if (step.done && !this.#over) this.#complete();
  }

  #deliver(chunk: Buffer): void {
    if (!this.#h.data(chunk)) this.#hold();
  }

  /** The client is slow, not the server: no upstream_timeout while we hold the server back. */
  #hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#conn.socket.pause();
  }

  #complete(): void {
    if (this.#over) return;
    this.#over = true;
    const h = this.#head as ResponseHead;
    const reusable = h.keepAlive && this.#sentAll && !this.#extra;
    if (!this.#sentAll) this.#body?.stop();
    this.#conn.socket.resume();
    this.#conn.pool.release(this.#conn, reusable);
    this.#h.done();
  }

  end(): void {
    if (this.#framing?.kind === "close") {
      this.#complete();
      return;
    }
    this.#fail(new TrunklineError(ErrorCodes.UPSTREAM_GONE, "the server closed the connection mid-answer"));
  }

  /**
   * upstream_timeout: the wait for the head once the request is sent, and each silence of the
   * body, except while the client holds the server back. Reads mark progress cheaply (-1);
   * the sweep turns that into a time.
   */
  check(now: number): void {
    if (this.#over || this.#held) return;
    if (!this.#sentAll) {
      if (this.#blockedAt > 0 && now - this.#blockedAt > this.#conn.pool.timeoutMs) this.#timeout();
      return;
    }
    if (this.#since < 0) {
      this.#since = now;
      return;
    }
    if (now - this.#since > this.#conn.pool.timeoutMs) this.#timeout();
  }

  #timeout(): void {
    this.#fail(
      new TrunklineError(
        ErrorCodes.UPSTREAM_TIMEOUT,
        `no answer from the server within ${this.#conn.pool.timeoutMs}ms`,
      ),
    );
  }

  error(err: Error): void {
    this.#fail(err);
  }

  #fail(err: Error): void {
    if (this.#over) return;
    this.#over = true;
    this.#body?.stop();
    this.#conn.user = undefined;
    flushAndDestroy(this.#conn.socket);
    const stale =
      this.#got === 0 &&
      this.#conn.uses > 0 &&
      !(err instanceof TrunklineError && err.code === ErrorCodes.UPSTREAM_TIMEOUT);
    this.#h.fail(err, this.#head !== undefined, stale);
  }
}
