import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import type { ListenerConfig } from "../config/types.ts";
import { type ErrorCode, ErrorCodes, errorMessage } from "../core/errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import { bindListener, releaseListening, tlsOptions } from "./binding.ts";
import { KEEPALIVE } from "./keepalive.ts";
import { KeepAliveSweep } from "./keepalive-sweep.ts";
import { type Link, LinkedSet } from "./linked-set.ts";
import { type PendingConn, PendingConns } from "./pending-conns.ts";
import type { Accepted, SessionInfo, StreamSession } from "./stream-session.ts";
import { sameServerTls } from "./tls-sni.ts";

export { sameBinding } from "./binding.ts";

export type { Accepted, SessionInfo, StreamSession } from "./stream-session.ts";

export interface StreamListenerOptions {
  readonly events: EventBus<TrunklineEvents>;
  /** SO_REUSEPORT for a configured port, so `run --takeover` can bind beside this process. */
  readonly reusePort: boolean;
  /** Share a `:0` port as well (the main thread, when worker threads join it). */
  readonly sharePortZero?: boolean;
  readonly accept: (conn: Accepted) => StreamSession;
  /** How long a TLS handshake may take before the socket is closed. */
  readonly handshakeTimeoutMs: (config: ListenerConfig) => number;
  /** Connections still in their TLS handshake or protocol opening, at most. */
  readonly maxPending: (config: ListenerConfig) => number;
  /** Connections open at once (sessions, and TLS handshakes that are not one yet), at most. */
  readonly maxConnections?: (config: ListenerConfig) => number;
  /**
   * Turns away a plain-TCP connection over the cap in the protocol's own words (FastAGI
   * answers FAILURE, so the dialplan sees AGISTATUS=FAILURE rather than a silent SUCCESS).
   */
  readonly refuse?: (socket: Socket) => void;
  /**
   * For a plain TCP listener: TCP keep-alive from this age of a session on (ms), not at
   * accept (0: at accept). Read at start: a change needs a new listener (sameBinding).
   */
  readonly keepAliveAfterMs?: (config: ListenerConfig) => number;
}

/**
 * A TCP or TLS listening socket for a stream protocol (FastAGI now, HTTP later) and the
 * sessions it accepted. Every connection is bounded before the protocol sees it: a TLS
 * handshake that does not finish within its timeout is closed, and at most `maxPending`
 * connections may be in their handshake or protocol opening at once (the rest are closed at
 * accept), so clients that never speak cost a timeout, never file descriptors for good.
 */
export class StreamListener {
  #config: ListenerConfig;
  readonly #o: StreamListenerOptions;
  readonly #sessions = new LinkedSet<StreamSession>();
  #server: Server | TlsServer | undefined;
  #idle: (() => void)[] = [];
  #accepting = false;
  /** Connections not yet established (the raw socket, for TLS the one under the TLS socket). */
  readonly #pending = new PendingConns();
  /** Keep-alive for sessions old enough to need it (a plain listener with keepAliveAfterMs). */
  readonly #sweep: KeepAliveSweep | undefined;

  constructor(config: ListenerConfig, opts: StreamListenerOptions) {
    this.#config = config;
    this.#o = opts;
    // TLS keeps keep-alive at accept: a handshake dwarfs its four setsockopt calls.
    const after = config.tls ? 0 : (opts.keepAliveAfterMs?.(config) ?? 0);
    this.#sweep = after > 0 ? new KeepAliveSweep(this.#sessions, after) : undefined;
  }

  get config(): ListenerConfig {
    return this.#config;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** The sessions in flight, newest first, at most `limit`. */
  sessionsInfo(limit: number): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.#sessions.values()) out.push(s.info());
    out.sort((a, b) => b.startedAt - a.startedAt);
    return out.slice(0, limit);
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** The bound address (port 0 in the config becomes the real port). */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  #create(): Server | TlsServer {
    const cfg = this.#config;
    const onConn = (sock: Socket) => {
      // The TLS socket wraps a raw one that is pending: found by its peer address and port
      // (a walk of at most max_pending links, next to a handshake that costs far more).
      const peer = `${sock.remoteAddress}:${sock.remotePort}`;
      this.#accept(sock, this.#pending.handshakeDone(peer));
    };
    const server = cfg.tls
      ? createTlsServer(
          {
            ...tlsOptions(cfg.tls),
            handshakeTimeout: this.#o.handshakeTimeoutMs(cfg),
            noDelay: true,
            ...KEEPALIVE,
            // A FIN from one side must not end the other's: the protocol relays half-closes.
            allowHalfOpen: true,
          },
          onConn,
        )
      : createNetServer({ noDelay: true, ...(this.#sweep ? undefined : KEEPALIVE), allowHalfOpen: true });
    // A TLS server wraps the raw socket first and hands the TLS socket to onConn later.
    if (cfg.tls) server.on("connection", (raw: Socket) => this.#track(raw, false));
    else
      server.on("connection", (raw: Socket) => {
        const link = this.#track(raw, true);
        if (link) this.#accept(raw, link);
      });
    if (cfg.tls) {
      server.on("tlsClientError", (err: Error, sock: Socket) => {
        // Node reports a failed or timed-out handshake here and leaves the socket open.
        sock.destroy();
        this.#o.events.emit("listener.error", {
          listener: this.#config.name,
          code: ErrorCodes.TLS_HANDSHAKE,
          error: err.message,
          client: `${sock.remoteAddress}:${sock.remotePort}`,
        });
      });
    }
    server.on("error", (err) =>
      this.#o.events.emit("listener.error", {
        listener: this.#config.name,
        code: ErrorCodes.ACCEPT,
        error: err.message,
      }),
    );
    return server;
  }

  /** Counts a raw connection as pending until the protocol says its opening is complete. */
  #track(raw: Socket, plain: boolean): Link<PendingConn> | undefined {
    // A plain connection is a session from accept on; a TLS one only after its handshake.
    const open = this.#sessions.size + this.#pending.handshakes;
    const maxOpen = this.#o.maxConnections?.(this.#config) ?? Number.POSITIVE_INFINITY;
    if (open >= maxOpen) return this.#turnAway(raw, plain, ErrorCodes.CONNECTION_LIMIT, maxOpen, "open");
    const max = this.#o.maxPending(this.#config);
    if (this.#pending.size >= max)
      return this.#turnAway(raw, plain, ErrorCodes.PENDING_LIMIT, max, "in their handshake or header");
    return this.#pending.add(raw, plain);
  }

  /** A connection over a cap: refused in the protocol's words (plain) or closed (TLS). */
  #turnAway(raw: Socket, plain: boolean, code: ErrorCode, max: number, state: string): undefined {
    raw.on("error", () => {});
    if (plain && this.#o.refuse) this.#o.refuse(raw);
    else raw.destroy();
    this.#o.events.emit("listener.error", {
      listener: this.#config.name,
      code,
      error: `${max} connections already ${state}`,
      client: `${raw.remoteAddress}:${raw.remotePort}`,
    });
    return undefined;
  }

  async #listen(server: Server | TlsServer): Promise<void> {
    await bindListener(server, this.#config, this.#o);
    this.#accepting = true;
  }

  async start(): Promise<void> {
    this.#server = this.#create();
    await this.#listen(this.#server);
    this.#sweep?.start();
  }

  /** Closes the listening socket only (sessions go on), so a successor can bind the address. */
  async release(): Promise<void> {
    this.#accepting = false;
    await releaseListening(this.#server);
  }

  /** Takes the address back after a failed hand-over. */
  async rebind(): Promise<void> {
    if (!this.#server || this.#server.listening) return;
    await this.#listen(this.#server);
  }

  /** Applies a new config with the same binding; a new certificate serves the next handshake. */
  update(config: ListenerConfig): void {
    const old = this.#config;
    this.#config = config;
    const server = this.#server;
    if (!config.tls || !server || !("setSecureContext" in server)) return;
    // By content: every snapshot reads the files again, so the Buffers are new each reload.
    if (sameServerTls(config.tls, old.tls)) return;
    try {
      // The snapshot already proved the material loads (config/context.ts checkTls).
      server.setSecureContext(tlsOptions(config.tls));
      this.#o.events.emit("listener.tls_reloaded", { listener: config.name });
    } catch (err) {
      this.#o.events.emit("listener.error", {
        listener: config.name,
        code: ErrorCodes.TLS_RELOAD,
        error: errorMessage(err),
      });
    }
  }

  #accept(sock: Socket, pending: Link<PendingConn> | undefined): void {
    if (!this.#accepting) {
      if (pending) this.#pending.remove(pending);
      sock.destroy();
      return;
    }
    let session: Link<StreamSession> | undefined;
    let done = false;
    const conn: Accepted = {
      socket: sock,
      listener: this.#config,
      established: () => {
        if (pending) this.#pending.remove(pending);
      },
      finished: () => {
        if (done) return;
        done = true;
        if (pending) this.#pending.remove(pending);
        if (session) this.#sessions.remove(session);
        if (this.#sessions.size === 0) for (const cb of this.#idle.splice(0)) cb();
      },
    };
    const s = this.#o.accept(conn);
    if (!done) session = this.#sessions.add(s);
  }

  /**
   * Stops accepting; resolves when every session has ended or the deadline passed. Sessions
   * still running at the deadline keep their keep-alive sweep until close().
   */
  async drain(deadline: number): Promise<void> {
    await this.release();
    if (this.#sessions.size > 0)
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(deadline)
          ? setTimeout(resolve, Math.max(0, deadline - Date.now()))
          : undefined;
        this.#idle.push(() => {
          if (timer) clearTimeout(timer);
          resolve();
        });
      });
    if (this.#sessions.size === 0) this.#sweep?.stop();
  }

  /** Ends every session now; resolves once they have all said so (their close events run). */
  async close(): Promise<void> {
    this.#accepting = false;
    this.#sweep?.stop();
    this.#server?.close();
    const ended =
      this.#sessions.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1_000);
            this.#idle.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
    for (const s of this.#sessions.values()) s.destroy("proxy closing");
    // Connections still in their handshake or header belong to no session yet.
    for (const p of this.#pending.values()) p.raw.destroy();
    await ended;
  }
}
