import type { Socket } from "node:net";
import { attempt } from "../../balance/attempt.ts";
import type { PoolMember } from "../../balance/pool.ts";
import { ErrorCodes, errorCode, errorMessage } from "../../core/errors.ts";
import type { FailedTry } from "../../events/types.ts";
import type { CancelToken } from "../../net/connect.ts";
import { keepAliveOn } from "../../net/keepalive.ts";
import { ReadTap } from "../../net/read-tap.ts";
import type { AgiRequest } from "./request.ts";
import type { SessionEnv, SessionPool } from "./session-env.ts";
import type { RouteTarget } from "./types.ts";

/** Bytes from Asterisk held while the upstream connect is in progress. */
const MAX_PENDING = 64 * 1024;
/** A `to:` target has no pool settings: the same connect bound as a pool's default. */
const TARGET_CONNECT_TIMEOUT_MS = 1_000;

/** What connecting needs of the application. */
type UpstreamEnv = Pick<SessionEnv, "listener" | "events" | "pool" | "connect">;

/**
 * The server side of a session up to its relay: the pool or `to:` target it was routed to,
 * the tries that failed (failover through the attempt loop), the pool slot it holds until
 * end(), and the bytes the server gets first. What it knows goes into session.end.
 */
export class UpstreamLeg {
  readonly #env: UpstreamEnv;
  readonly #cancel: CancelToken;
  /** Where the connected socket's reads go (the relay's, once it runs). */
  readonly tap = new ReadTap();
  #pool: SessionPool | undefined;
  #member: PoolMember | undefined;
  #poolName: string | undefined;
  #server: string | undefined;
  #attempts: readonly FailedTry[] = [];
  #connectedAt: number | undefined;
  /** The server's socket once connected (the relay's), for keep-alive asked for later. */
  #socket: Socket | undefined;
  /** keepAlive() was called: the server's socket has keep-alive, or gets it at its connect. */
  #keepAlive = false;
  #ended = false;
  /** What Asterisk sent after its header, before the relay (an early HANGUP): the server's. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** `cancel` is the session's: cancelling it aborts a connect in progress. */
  constructor(env: UpstreamEnv, cancel: CancelToken) {
    this.#env = env;
    this.#cancel = cancel;
  }

  get poolName(): string | undefined {
    return this.#poolName;
  }

  /** The server connected to: a pool member's key, or the target's authority. */
  get server(): string | undefined {
    return this.#server;
  }

  get attempts(): readonly FailedTry[] {
    return this.#attempts;
  }

  /** When the connection was made (Date.now()). */
  get connectedAt(): number | undefined {
    return this.#connectedAt;
  }

  /** Connects to a server of pool `name`, failing over; undefined when none could be had. */
  async viaPool(name: string, final: AgiRequest): Promise<Socket | undefined> {
    const pool = this.#env.pool(name);
    this.#poolName = name;
    if (!pool) return undefined;
    this.#pool = pool;
    const env = this.#env;
    const r = await attempt<PoolMember, Socket>(pool, pool.config.hashKeyOf(final.vars), {
      what: "connect",
      tryOne: (m, timeoutMs) =>
        env.connect(m.config.address, m.config.tls, timeoutMs, this.#cancel, this.tap),
      discard: (sock) => sock.destroy(),
      cancelled: () => this.#cancel.cancelled || this.#ended,
      name: (m) => m.key,
      onFailure: (m, error) => {
        if (env.events.has("attempt.failed"))
          env.events.emit("attempt.failed", {
            protocol: "fastagi",
            listener: env.listener.name,
            pool: name,
            server: m.key,
            error,
          });
      },
    });
    this.#attempts = r.failures;
    if (!r.ok) return undefined;
    this.#member = r.server;
    this.#server = r.server.key;
    return this.#connected(r.result);
  }

  /** Connects to a route's `to:` target (one try); undefined when it failed. */
  async viaTarget(target: RouteTarget): Promise<Socket | undefined> {
    try {
      const sock = await this.#env.connect(
        target.address,
        target.tls,
        TARGET_CONNECT_TIMEOUT_MS,
        this.#cancel,
        this.tap,
      );
      if (this.#ended) {
        sock.destroy();
        return undefined;
      }
      this.#server = target.authority;
      return this.#connected(sock);
    } catch (err) {
      this.#attempts = [
        {
          server: target.authority,
          error: errorMessage(err),
          code: errorCode(err, ErrorCodes.CONNECT_FAILED),
        },
      ];
      return undefined;
    }
  }

  #connected(sock: Socket): Socket {
    this.#connectedAt = Date.now();
    this.#socket = sock;
    if (this.#keepAlive) keepAliveOn(sock);
    return sock;
  }

  /**
   * TCP keep-alive on the server's socket from now on, or from its connect if the session is
   * still connecting. False when it was asked for already (the listener's sweep asks again).
   */
  keepAlive(): boolean {
    if (this.#keepAlive) return false;
    this.#keepAlive = true;
    keepAliveOn(this.#socket);
    return true;
  }

  /** Keeps bytes from Asterisk for the server; false (and not kept) past MAX_PENDING in all. */
  hold(chunk: Buffer): boolean {
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > MAX_PENDING) return false;
    this.#pending.push(chunk);
    return true;
  }

  /** The server's first bytes: the header and what Asterisk sent meanwhile, in one write (one segment). */
  first(header: Buffer): Buffer {
    const out = this.#pending.length === 0 ? header : Buffer.concat([header, ...this.#pending]);
    this.#pending = [];
    this.#pendingBytes = 0;
    return out;
  }

  /** The session has ended: its pool slot is released, and a connect still trying stops. */
  end(): void {
    this.#ended = true;
    if (this.#member && this.#pool) this.#pool.release(this.#member);
  }
}
