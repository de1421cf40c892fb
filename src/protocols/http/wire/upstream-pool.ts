/**
 * Keep-alive connections to one upstream HTTP server, on raw sockets: at most `connections`
 * open, the idle ones reused last-in first-out and closed after `keepAliveMs` of idleness
 * (below the 5 s of Node's and nginx's servers, so we never send on a socket they are
 * closing), a request that finds them all busy waits in line for at most `waitMs`.
 */

import type { Socket } from "node:net";
import type { TlsClientConfig } from "../../../config/types.ts";
import type { HostPort } from "../../../core/address.ts";
import { ErrorCodes, TrunklineError } from "../../../core/errors.ts";
import { type CancelToken, connectUpstream } from "../../../net/connect.ts";
import { ReadTap } from "../../../net/read-tap.ts";
import { fieldValue, K, STRIDE } from "./fields.ts";
import type { Head } from "./head.ts";

/** What a connection pool needs to know of a server. */
export interface UpstreamTarget {
  readonly key: string;
  readonly address: HostPort;
  readonly tls: TlsClientConfig | undefined;
  readonly connectTimeoutMs: number;
}

export interface UpstreamPoolOptions {
  /** Connections per server, at most. */
  readonly connections: number;
  /** Wait for a response head, between body chunks, and for a free connection. */
  readonly timeoutMs: number;
}

/** Idle keep-alive connections are closed after this (or the server's own Keep-Alive timeout, less 1 s). */
export const KEEP_ALIVE_MS = 4_000;

/**
 * How long a connection may idle by its server's last answer: `Keep-Alive: timeout=N` less
 * 1 s, at most KEEP_ALIVE_MS. A server closes an idle connection on its own clock; one reused
 * just as it does gets a request it never answers (a POST then gets a 502: it is not sent twice).
 */
export function idleLimitOf(h: Head): number {
  for (let f = 0; f < h.at.length; f += STRIDE) {
    if (h.at[f + 3] !== K.KEEP_ALIVE) continue;
    const m = /(?:^|[\s,;])timeout\s*=\s*"?(\d{1,9})/i.exec(fieldValue(h.bytes, h.at, f));
    if (m) return Math.max(0, Math.min(KEEP_ALIVE_MS, Number(m[1]) * 1000 - 1000));
  }
  return KEEP_ALIVE_MS;
}

/**
 * The server's pool was closed (a reload took the server out) before the request got a
 * connection: the request never left the proxy, and the server is not to blame.
 */
export class PoolClosed extends TrunklineError {
  constructor() {
    super(ErrorCodes.CONNECT_FAILED, "pool closed");
  }
}

/**
 * Every connection to the server stayed busy while the request waited in line: the backlog
 * is the proxy's, not a sign that the server is down (passive health does not count it).
 */
export class QueueTimeout extends TrunklineError {
  constructor(message: string) {
    super(ErrorCodes.CONNECT_TIMEOUT, message);
  }
}

/** What a connection in use reports to the request it carries. */
export interface ConnUser {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
  drain(): void;
  /** The listener's sweep: time bounds of the request in progress. */
  check(now: number): void;
}

/** One connection to the server, with its listeners set once for its whole life. */
export class UpstreamConn {
  readonly socket: Socket;
  readonly pool: UpstreamPool;
  /** Requests it has carried before the current one (a reused connection may be stale). */
  uses = 0;
  user: ConnUser | undefined;
  /** When it last went idle (performance.now()), and how long it may (idleLimitOf its server's last answer). */
  idleSince = 0;
  idleLimitMs = KEEP_ALIVE_MS;

  constructor(socket: Socket, tap: ReadTap, pool: UpstreamPool) {
    this.socket = socket;
    this.pool = pool;
    tap.attach((c: Buffer) => (this.user ? this.user.data(c) : socket.destroy()), socket);
    // An idle connection the server closed (its FIN) is of no more use: gone before a request picks it.
    socket.on("end", () => (this.user ? this.user.end() : socket.destroy()));
    socket.on("error", (e: Error) => this.user?.error(e));
    socket.on("drain", () => this.user?.drain());
    socket.on("close", () => {
      const u = this.user;
      this.user = undefined;
      pool.closed(this);
      u?.error(new TrunklineError(ErrorCodes.UPSTREAM_GONE, "the server closed the connection"));
    });
  }
}

interface Waiter {
  cb: (err: Error | undefined, conn: UpstreamConn | undefined) => void;
  timer: NodeJS.Timeout;
  token: CancelToken;
}

export class UpstreamPool {
  readonly target: UpstreamTarget;
  readonly #o: UpstreamPoolOptions;
  readonly #idle: UpstreamConn[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #all = new Set<UpstreamConn>();
  #open = 0;
  #closing = false;
  #onEmpty: (() => void) | undefined;

  constructor(target: UpstreamTarget, o: UpstreamPoolOptions) {
    this.target = target;
    this.#o = o;
  }

  get open(): number {
    return this.#open;
  }

  get timeoutMs(): number {
    return this.#o.timeoutMs;
  }

  /**
   * A connection for one request: an idle one, a new one, or the next one freed. `token`
   * cancels the wait (the client left). The callback runs once.
   */
  acquire(token: CancelToken, cb: (err: Error | undefined, conn: UpstreamConn | undefined) => void): void {
    if (this.#closing) {
      cb(new PoolClosed(), undefined);
      return;
    }
    let idle = this.#idle.pop();
    // Past its server's keep-alive timeout (the sweep had not come yet): not trusted with a request.
    while (idle !== undefined && performance.now() - idle.idleSince > idle.idleLimitMs) {
      idle.socket.destroy();
      idle = this.#idle.pop();
    }
    if (idle !== undefined) {
      idle.uses++;
      cb(undefined, idle);
      return;
    }
    if (this.#open < this.#o.connections) {
      this.#connect(token, cb);
      return;
    }
    const w: Waiter = {
      cb,
      token,
      timer: setTimeout(() => {
        this.#dropWaiter(w);
        cb(new QueueTimeout(`no free connection within ${this.#o.timeoutMs}ms`), undefined);
      }, this.#o.timeoutMs),
    };
    token.onCancel = () => {
      this.#dropWaiter(w);
      cb(new TrunklineError(ErrorCodes.CONNECT_FAILED, "aborted"), undefined);
    };
    this.#waiters.push(w);
  }

  #dropWaiter(w: Waiter): void {
    clearTimeout(w.timer);
    w.token.onCancel = undefined;
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  #connect(token: CancelToken, cb: (err: Error | undefined, conn: UpstreamConn | undefined) => void): void {
    this.#open++;
    const t = this.target;
    // Reads land in the process's shared buffer (Node's onread): no allocation per read.
    const tap = new ReadTap();
    connectUpstream(t.address, t.tls, t.connectTimeoutMs, token, tap, true).then(
      (sock) => {
        if (this.#closing) {
          sock.destroy();
          this.#open--;
          return cb(new PoolClosed(), undefined);
        }
        const c = new UpstreamConn(sock, tap, this);
        this.#all.add(c);
        cb(undefined, c);
      },
      (err: Error) => {
        this.#open--;
        this.#next();
        cb(err, undefined);
      },
    );
  }

  /** The request on `c` is over: `reusable` when the connection can carry another. */
  release(c: UpstreamConn, reusable: boolean): void {
    c.user = undefined;
    if (!reusable || this.#closing || c.socket.destroyed) {
      c.socket.destroy();
      return;
    }
    const w = this.#waiters.shift();
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.token.onCancel = undefined;
      c.uses++;
      w.cb(undefined, c);
      return;
    }
    c.idleSince = performance.now();
    this.#idle.push(c);
  }

  /** A connection's socket closed (called once per connection). */
  closed(c: UpstreamConn): void {
    this.#open--;
    this.#all.delete(c);
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#next();
    if (this.#open === 0) this.#onEmpty?.();
  }

  /** A freed place goes to the first request in line. */
  #next(): void {
    if (this.#closing || this.#open >= this.#o.connections) return;
    const w = this.#waiters.shift();
    if (w === undefined) return;
    clearTimeout(w.timer);
    w.token.onCancel = undefined;
    this.#connect(w.token, w.cb);
  }

  /** The listener's sweep: idle connections past KEEP_ALIVE_MS close, requests check their own bounds. */
  check(now: number): void {
    for (const c of this.#all) {
      if (c.user !== undefined) c.user.check(now);
      else if (now - c.idleSince > c.idleLimitMs) c.socket.destroy();
    }
  }

  /** Closes idle connections now, the others when their request is over (or at `graceMs`). */
  close(graceMs: number): Promise<void> {
    this.#closing = true;
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.token.onCancel = undefined;
      w.cb(new PoolClosed(), undefined);
    }
    for (const c of this.#idle.splice(0)) c.socket.destroy();
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onEmpty = undefined;
        for (const c of this.#all) c.socket.destroy();
        resolve();
      }, graceMs);
      this.#onEmpty = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
