import { connect, type Socket } from "node:net";
import type { RecordQueue } from "./syslog-queue.ts";

const CONNECT_TIMEOUT_MS = 5000;
/** A connection that lived this long was a real one: the next failure starts backing off anew. */
const STABLE_MS = 2000;

/** What the TCP connection needs from the sink that owns it. */
export interface TcpHost {
  /** close() has begun: a new socket keeps the process alive for the bounded flush. */
  closing(): boolean;
  fail(err: unknown): void;
  sent(): void;
  /** The connection came up or drained: more records may go now. */
  pump(): void;
  /** The connection is gone; `stable` when it had lived STABLE_MS, so backoff may start anew. */
  closed(stable: boolean): void;
}

/**
 * Octet-counted frames (RFC 6587 §3.4.1) on one lazily opened connection, written only while
 * the socket is not applying backpressure. Reconnecting is the sink's: its backoff
 * (syslog-retry.ts) is shared with name resolution.
 */
export class TcpConnection {
  readonly #host: TcpHost;
  readonly #target: { readonly host: string; readonly port: number };
  #sock: Socket | undefined;
  #connected = false;
  #writable = false;
  #connectedAt = 0;

  constructor(host: TcpHost, target: { readonly host: string; readonly port: number }) {
    this.#host = host;
    this.#target = target;
  }

  /** A socket exists: connecting or connected. */
  get open(): boolean {
    return this.#sock !== undefined;
  }

  /** Connected, and the last write was taken without backpressure. */
  get writable(): boolean {
    return this.#connected && this.#writable;
  }

  /**
   * Writes queued frames while the socket takes them; without a socket, connects to `addr`
   * when `mayConnect` (no retry is already scheduled).
   */
  send(queue: RecordQueue, addr: { ip: string; family: 4 | 6 }, mayConnect: boolean): void {
    const sock = this.#sock;
    if (!sock) {
      if (mayConnect) this.#connect(addr);
      return;
    }
    if (!this.#connected) return;
    // Backpressure: once write() says the socket buffer is full, wait for 'drain'; the
    // queue (bounded) absorbs the rest, so a server that never reads costs a fixed amount.
    while (this.#writable && queue.length > 0) {
      this.#host.sent();
      this.#writable = sock.write(queue.shift());
    }
  }

  #connect(addr: { ip: string; family: 4 | 6 }): void {
    const sock = connect({ host: addr.ip, port: this.#target.port, family: addr.family });
    if (this.#host.closing()) sock.ref();
    else sock.unref();
    this.#sock = sock;
    this.#connected = false;
    this.#writable = false;
    // A black-holed server would otherwise hold the connect for the kernel's ~2 minutes.
    sock.setTimeout(CONNECT_TIMEOUT_MS, () =>
      sock.destroy(new Error(`connect to ${this.#target.host}:${this.#target.port} timed out`)),
    );
    sock.on("connect", () => {
      sock.setTimeout(0);
      sock.setKeepAlive(true, 60_000);
      this.#connected = true;
      this.#writable = true;
      this.#connectedAt = Date.now();
      this.#host.pump();
    });
    sock.on("drain", () => {
      this.#writable = true;
      this.#host.pump();
    });
    // A syslog server never talks back (RFC 6587); anything it sends is discarded.
    sock.resume();
    sock.on("error", (err) => this.#host.fail(err));
    sock.on("close", () => {
      if (this.#sock !== sock) return;
      const lived = this.#connected ? Date.now() - this.#connectedAt : 0;
      this.#sock = undefined;
      this.#connected = false;
      this.#writable = false;
      this.#host.closed(lived >= STABLE_MS);
    });
  }

  /** Lets the socket keep the process alive (close()'s bounded flush). */
  ref(): void {
    this.#sock?.ref();
  }

  /** Closes cleanly; `done` runs once everything written was handed to the kernel. */
  end(done: () => void): void {
    this.#sock?.end(done);
  }

  /** Drops the connection at once; its late events are ignored. */
  destroy(): void {
    this.#sock?.destroy();
    this.#sock = undefined;
  }
}
