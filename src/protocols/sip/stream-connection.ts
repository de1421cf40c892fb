/**
 * One SIP connection over TCP or TLS (RFC 3261 §18): long-lived, carrying requests and
 * responses both ways, framed by Content-Length (§18.3). Every wait is bounded: an outbound
 * connect (and its TLS handshake), a message begun and not finished, a connection silent
 * both ways, a peer that stops reading (its write buffer is capped). Whatever ends it, the
 * socket is destroyed and the owner told once.
 */

import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { connectError } from "./connect-error.ts";
import { estimateSize, SipStreamFramer } from "./framer.ts";
import type { MutableStats, SipStreamConfig } from "./stream-options.ts";
import { failedMessage, rejectionFor } from "./stream-reject.ts";
import type { SendFailed, SipDropped, SipFlow, SipInbound, SipPeer } from "./transport.ts";
import type { SipError, SipMessage } from "./types.ts";

/** What a connection needs of the transport that owns it. */
export interface ConnectionOwner {
  readonly config: SipStreamConfig;
  readonly stats: MutableStats;
  readonly onMessage: (m: SipInbound) => void;
  readonly onDropped: ((d: SipDropped) => void) | undefined;
  /** It takes no more messages: forget it as the way to its peer. */
  retired(conn: SipStreamConnection): void;
  /** Its socket has closed. */
  ended(conn: SipStreamConnection): void;
}

/** How long a connection closing after a 400 waits for its last bytes to leave. */
const LINGER_MS = 1_000;

type State = "connecting" | "open" | "closing" | "closed";

export class SipStreamConnection implements SipFlow {
  readonly id: number;
  readonly peer: SipPeer;
  readonly outbound: boolean;
  readonly #owner: ConnectionOwner;
  readonly #socket: Socket;
  readonly #framer: SipStreamFramer;
  #state: State;
  /** Messages accepted while connecting, written once connected (at most maxQueuedBytes). */
  #queue: Buffer[] = [];
  #queued = 0;
  /** Who waits to hear if a queued message never leaves (an INVITE's branch). */
  #onFail: SendFailed[] = [];
  /** The unfinished message's bytes as received (references), to answer it if it fails. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Inbound, no message yet: its first must come within messageTimeoutMs of the accept. */
  #silent: boolean;

  /** `connecting`: an outbound socket whose connect (and TLS handshake) is under way. */
  constructor(socket: Socket, peer: SipPeer, id: number, owner: ConnectionOwner, connecting: boolean) {
    this.id = id;
    this.peer = peer;
    this.outbound = connecting;
    this.#owner = owner;
    this.#socket = socket;
    this.#framer = new SipStreamFramer(owner.config.limits);
    this.#state = connecting ? "connecting" : "open";
    this.#silent = !connecting;
    socket.on("error", (err: NodeJS.ErrnoException) => this.#fail(connectError(err, owner.config)));
    socket.on("close", () => this.#closed());
    socket.on("data", (chunk: Buffer) => this.#data(chunk));
    socket.on("timeout", () => {
      owner.stats.timeouts++;
      socket.destroy();
    });
    if (connecting) {
      const c = owner.config;
      const tls = c.transport === "tls";
      this.#timer = setTimeout(() => this.#connectTimeout(), c.connectTimeoutMs);
      socket.once("connect", () => {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        if (!tls) this.#established();
        else {
          // The TCP part is done; the handshake gets its own bound.
          clearTimeout(this.#timer);
          this.#timer = setTimeout(() => this.#connectTimeout(), c.handshakeTimeoutMs);
        }
      });
      if (tls) socket.once("secureConnect", () => this.#established());
    } else this.#opened();
  }

  get open(): boolean {
    return this.#state === "open" || this.#state === "connecting";
  }

  /** Bytes waiting to be written: queued while connecting, or in the socket's buffer. */
  get queuedBytes(): number {
    return this.#state === "connecting" ? this.#queued : this.#socket.writableLength;
  }

  send(bytes: Buffer, failed?: SendFailed): boolean {
    const max = this.#owner.config.maxQueuedBytes;
    const stats = this.#owner.stats;
    if (this.#state === "connecting") {
      if (this.#queued + bytes.length > max) {
        stats.sendFailures++;
        return false;
      }
      this.#queue.push(bytes);
      this.#queued += bytes.length;
      if (failed) this.#onFail.push(failed);
      return true;
    }
    if (this.#state !== "open") {
      stats.sendFailures++;
      return false;
    }
    if (this.#socket.writableLength + bytes.length > max) {
      // The peer stopped reading: holding more would cost memory without bound.
      stats.sendFailures++;
      this.destroy();
      return false;
    }
    this.#socket.write(bytes);
    stats.messagesOut++;
    return true;
  }

  /** Closes at once; queued bytes are dropped. */
  destroy(): void {
    if (this.#state === "closed") return;
    this.#retire();
    this.#socket.destroy();
  }

  #opened(): void {
    this.#socket.setTimeout(this.#owner.config.idleTimeoutMs);
    // An accepted connection that says nothing (CRLF keep-alives are nothing) costs one timeout.
    if (this.#silent)
      this.#timer = setTimeout(() => this.#messageTimeout(), this.#owner.config.messageTimeoutMs);
  }

  #messageTimeout(): void {
    this.#owner.stats.timeouts++;
    this.destroy();
  }

  #established(): void {
    if (this.#state !== "connecting") return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = "open";
    this.#owner.stats.connected++;
    this.#opened();
    const queue = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    this.#onFail = [];
    this.#socket.cork();
    for (const bytes of queue) this.#socket.write(bytes);
    this.#socket.uncork();
    this.#owner.stats.messagesOut += queue.length;
  }

  #connectTimeout(): void {
    this.#owner.stats.timeouts++;
    const c = this.#owner.config;
    this.#fail({
      code: "connect_timeout",
      message: `no ${c.transport} connection within ${c.connectTimeoutMs}ms`,
    });
  }

  /** A connect that failed drops what was queued for it, each message told (they were accepted). */
  #fail(error: SipError): void {
    const queue = this.#queue;
    const onFail = this.#onFail;
    this.#queue = [];
    this.#queued = 0;
    this.#onFail = [];
    this.destroy();
    const o = this.#owner;
    o.stats.sendFailures += queue.length;
    if (o.onDropped) for (let i = 0; i < queue.length; i++) o.onDropped({ source: this.peer, error });
    for (const f of onFail) f(error);
  }

  #data(chunk: Buffer): void {
    if (this.#state !== "open") return;
    const before = this.#framer.pending;
    const r = this.#framer.push(chunk);
    const n = r.messages.length;
    if (n > 0) this.#deliver(r.messages, before + chunk.length - (r.error ? 0 : this.#framer.pending));
    if (this.#state !== "open") return;
    if (r.error) {
      this.#malformed(chunk, n, r.error);
      return;
    }
    this.#hold(chunk);
    this.#armMessageTimer(n > 0);
  }

  #deliver(messages: readonly SipMessage[], consumed: number): void {
    const o = this.#owner;
    for (const message of messages) {
      if (this.#state !== "open") return;
      o.stats.messagesIn++;
      this.#silent = false;
      // One message read: the bytes it took are exact. Several: each one's share is estimated.
      const size = messages.length === 1 ? consumed : estimateSize(message);
      try {
        o.onMessage({ message, source: this.peer, flow: this, size });
      } catch {
        o.stats.handlerErrors++;
      }
    }
  }

  /** Keeps references to the last `pending` bytes of the stream: the unfinished message. */
  #hold(chunk: Buffer): void {
    const pending = this.#framer.pending;
    if (pending === 0) {
      if (this.#heldBytes > 0) this.#held = [];
      this.#heldBytes = 0;
      return;
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    while (this.#held.length > 1 && this.#heldBytes - (this.#held[0]?.length ?? 0) >= pending)
      this.#heldBytes -= this.#held.shift()?.length ?? 0;
    const first = this.#held[0];
    if (first && this.#heldBytes > pending) {
      this.#held[0] = first.subarray(this.#heldBytes - pending);
      this.#heldBytes = pending;
    }
  }

  /**
   * A message begun must end within messageTimeoutMs; each message completed while another
   * has begun restarts the clock, so a busy pipelined stream is not cut.
   */
  #armMessageTimer(progress: boolean): void {
    if (this.#framer.pending === 0) {
      if (this.#silent) return;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#timer === undefined)
      this.#timer = setTimeout(() => this.#messageTimeout(), this.#owner.config.messageTimeoutMs);
    else if (progress) this.#timer.refresh();
  }

  /**
   * The framing of what follows a bad message cannot be trusted (§18.3), so the connection
   * ends; a request that can be answered gets its 400 (or 513) first.
   */
  #malformed(chunk: Buffer, completed: number, error: SipError): void {
    const o = this.#owner;
    o.stats.malformed++;
    const bytes = this.#heldBytes > 0 ? Buffer.concat([...this.#held, chunk]) : chunk;
    this.#held = [];
    this.#heldBytes = 0;
    const reply = rejectionFor(
      failedMessage(bytes, completed, o.config.limits),
      error,
      randomBytes(6).toString("hex"),
    );
    o.onDropped?.({ source: this.peer, error });
    if (reply === undefined) {
      this.destroy();
      return;
    }
    this.#retire();
    this.#socket.end(reply);
    o.stats.messagesOut++;
    clearTimeout(this.#timer);
    // A peer that does not read the answer must not keep the socket.
    this.#timer = setTimeout(() => this.#socket.destroy(), Math.min(LINGER_MS, o.config.idleTimeoutMs));
  }

  #retire(): void {
    if (this.#state === "closing" || this.#state === "closed") return;
    this.#state = "closing";
    this.#owner.retired(this);
  }

  #closed(): void {
    if (this.#state === "closed") return;
    this.#retire();
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held = [];
    this.#heldBytes = 0;
    if (this.#queue.length > 0)
      this.#fail({ code: "connection_closed", message: "closed before it was established" });
    this.#owner.ended(this);
  }
}
