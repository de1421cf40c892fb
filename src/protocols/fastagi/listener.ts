import { createServer as createNetServer, type Server, type Socket } from "node:net";
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type Server as TlsServer,
} from "node:tls";
import type { ListenerConfig, TlsServerConfig } from "../../config/types.ts";
import { formatHostPort } from "../../core/address.ts";
import { errorMessage } from "../../core/errors.ts";
import type { Log } from "../../core/types.ts";
import { FastAgiSession, type SessionEnv } from "./session.ts";

export type SessionEnvFactory = (listener: ListenerConfig) => SessionEnv;

function tlsOptions(
  t: TlsServerConfig,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: t.cert,
    key: t.key,
    ...(t.ca ? { ca: t.ca } : {}),
    // A CA in the config means: clients must present a certificate it signed.
    requestCert: t.ca !== undefined,
    rejectUnauthorized: t.ca !== undefined,
  };
}

/**
 * One FastAGI listening socket (TCP or TLS) and the sessions it accepted. Config updates
 * that keep the address (TLS certificates, timeouts, forwarded_for) apply to new sessions
 * without rebinding; sessions in flight keep what they started with.
 */
export class FastAgiListener {
  #config: ListenerConfig;
  readonly #makeEnv: SessionEnvFactory;
  readonly #log: Log;
  readonly #sessions = new Set<FastAgiSession>();
  #server: Server | TlsServer | undefined;
  #idle: (() => void)[] = [];
  #accepting = false;

  constructor(config: ListenerConfig, makeEnv: SessionEnvFactory, log: Log) {
    this.#config = config;
    this.#makeEnv = makeEnv;
    this.#log = log.child({ listener: config.name });
  }

  get config(): ListenerConfig {
    return this.#config;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** The bound address (port 0 in the config becomes the real port). */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  start(): Promise<void> {
    const cfg = this.#config;
    const onConn = (sock: Socket) => this.#accept(sock);
    const server = cfg.tls
      ? createTlsServer(
          {
            ...tlsOptions(cfg.tls),
            handshakeTimeout: cfg.headerTimeoutMs,
            noDelay: true,
            allowHalfOpen: true,
          },
          onConn,
        )
      : createNetServer({ noDelay: true, allowHalfOpen: true }, onConn);
    if (cfg.tls) {
      server.on("tlsClientError", (err: Error, sock: Socket) => {
        this.#log.warn(
          { client: `${sock.remoteAddress}:${sock.remotePort}`, err: err.message },
          "TLS handshake with client failed",
        );
      });
    }
    server.on("error", (err) => this.#log.error({ err: err.message }, "listener error"));
    this.#server = server;
    return new Promise((resolve, reject) => {
      const onErr = (err: Error) => reject(err);
      server.once("error", onErr);
      server.listen({ host: cfg.listen.host, port: cfg.listen.port, backlog: 2048 }, () => {
        server.removeListener("error", onErr);
        this.#accepting = true;
        this.#log.info(
          { listen: formatHostPort(cfg.listen), tls: cfg.tls !== undefined, port: this.address?.port },
          "listening",
        );
        resolve();
      });
    });
  }

  /** Applies a new config with the same address; a new certificate serves the next handshake. */
  update(config: ListenerConfig): void {
    const old = this.#config;
    this.#config = config;
    const server = this.#server;
    if (config.tls && server && "setSecureContext" in server) {
      if (
        config.tls.cert !== old.tls?.cert ||
        config.tls.key !== old.tls?.key ||
        config.tls.ca !== old.tls?.ca
      ) {
        try {
          // The snapshot already proved the material loads (config/snapshot.ts).
          server.setSecureContext(tlsOptions(config.tls));
          this.#log.info({}, "TLS certificates reloaded");
        } catch (err) {
          this.#log.error(
            { err: errorMessage(err) },
            "TLS certificates could not be loaded; keeping the previous ones",
          );
        }
      }
    }
  }

  #accept(sock: Socket): void {
    if (!this.#accepting) {
      sock.destroy();
      return;
    }
    const session = new FastAgiSession(sock, this.#makeEnv(this.#config));
    this.#sessions.add(session);
    session.onFinish(() => {
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) for (const cb of this.#idle.splice(0)) cb();
    });
    session.start();
  }

  /** Stops accepting; resolves when every session has ended or the deadline passed. */
  async drain(deadline: number): Promise<void> {
    this.#accepting = false;
    await new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      // close() waits for connections; we track sessions ourselves.
      setImmediate(resolve);
    });
    if (this.#sessions.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(deadline)
        ? setTimeout(resolve, Math.max(0, deadline - Date.now()))
        : undefined;
      this.#idle.push(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.#accepting = false;
    this.#server?.close();
    for (const s of this.#sessions) s.destroy("proxy closing");
  }
}
