/**
 * An HTTP listener (ProtocolListener): plain or TLS, each connection read by our own
 * HTTP/1.1 code on the raw socket (wire/server-conn.ts), which bounds what clients send
 * (header size and time, whole-request time, idle keep-alive, a socket silent either way);
 * each request becomes an HttpExchange, each Upgrade a relayed tunnel. Drain stops
 * accepting, closes idle keep-alive connections and answers the requests in flight with
 * `Connection: close`.
 */

import type { Server, Socket } from "node:net";
import type { ListenerConfig } from "../../config/types.ts";
import { ErrorCodes, errorMessage } from "../../core/errors.ts";
import { whenOpen } from "../../core/gate.ts";
import { bindListener, releaseListening, tlsOptions } from "../../net/binding.ts";
import { type Link, LinkedSet } from "../../net/linked-set.ts";
import type { SessionInfo } from "../../net/stream-session.ts";
import { SniTable, sameServerTls } from "../../net/tls-sni.ts";
import type { ListenerContext, ProtocolListener } from "../protocol.ts";
import type { HttpListenerOptions, HttpRoute } from "./config.ts";
import { HttpExchange } from "./exchange.ts";
import { connLimits, createFrontServer, sweepEveryMs } from "./front-server.ts";
import { ownPage } from "./pages.ts";
import type { ExchangeEnv, ExchangeRecord } from "./proxy-env.ts";
import { sessionEnded } from "./session-end.ts";
import { relayUpgrade, upgradeInFlight, upgradeOptions } from "./upgrade.ts";
import { UpstreamPools } from "./upstreams.ts";
import { WakeLimit } from "./wake-limit.ts";
import type { RequestHead } from "./wire/head.ts";
import type { InboundRequest } from "./wire/inbound.ts";
import { type ConnHandler, ServerConn } from "./wire/server-conn.ts";

function options(l: ListenerConfig): HttpListenerOptions {
  return l.options as HttpListenerOptions;
}

/** A request in flight or an upgraded tunnel, as the admin API lists it. */
interface InFlight {
  info(): SessionInfo;
  destroy(reason: string): void;
}

/** Routes and starts an exchange (total_timeout from `from`); a throw ends it, never the listener. */
function runExchange(x: HttpExchange, from?: number): void {
  try {
    x.run(from);
  } catch (err) {
    x.destroy(errorMessage(err));
  }
}

export class HttpListener implements ProtocolListener {
  #config: ListenerConfig;
  readonly #ctx: ListenerContext;
  readonly #inFlight = new LinkedSet<InFlight>();
  readonly #conns = new LinkedSet<ServerConn>();
  #sweep: NodeJS.Timeout | undefined;
  readonly #connHandler: ConnHandler;
  readonly upstreams: UpstreamPools;
  #server: Server | undefined;
  #draining = false;
  #closed = false;
  #idle: (() => void)[] = [];
  #generation = -1;
  readonly #woken = new WakeLimit();
  readonly #env: ExchangeEnv;
  #sni: SniTable;

  constructor(config: ListenerConfig, ctx: ListenerContext) {
    this.#config = config;
    this.#ctx = ctx;
    this.#sni = new SniTable(config.tls?.sni ?? [], config.tls?.ca);
    const o = options(config);
    this.upstreams = new UpstreamPools({
      connections: o.upstreamConnections,
      timeoutMs: o.upstreamTimeoutMs,
    });
    this.#env = {
      listener: config.name,
      proto: config.tls ? "https" : "http",
      upstreams: this.upstreams,
      current: () => this.#current(),
      draining: () => this.#draining,
      page: (kind, host, service) => ownPage(options(this.#config).statusPage, kind, host, service),
      wake: (route) => this.#wake(route),
      attemptFailed: (pool, server, error) =>
        this.#ctx.events.emit("attempt.failed", {
          protocol: "http",
          listener: this.#config.name,
          pool,
          server,
          error,
        }),
    };
    this.#connHandler = {
      request: (req) => this.#onRequest(req),
      upgrade: (head, sock, rest, client) => this.#onUpgrade(head, sock, rest, client),
      draining: () => this.#draining,
      gone: (c) => {
        if (c.link !== undefined) this.#conns.remove(c.link);
        c.link = undefined;
      },
    };
  }

  get config(): ListenerConfig {
    return this.#config;
  }

  get sessions(): number {
    return this.#inFlight.size;
  }

  get pending(): number {
    return 0;
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  sessionsInfo(limit: number): SessionInfo[] {
    const out = this.#inFlight.values().map((s) => s.info());
    out.sort((a, b) => b.startedAt - a.startedAt);
    return out.slice(0, limit);
  }

  /** The generation now; on a new one, connection pools of servers gone from every http pool close. */
  #current() {
    const gen = this.#ctx.current();
    if (gen.number !== this.#generation) {
      this.#generation = gen.number;
      const keep = new Set<string>();
      for (const p of gen.pools.values())
        if (p.config.protocol === "http") for (const m of p.servers) keep.add(m.key);
      this.upstreams.retain(keep);
    }
    return gen;
  }

  #wake(route: HttpRoute): void {
    if (!this.#woken.take(route)) return;
    this.#ctx.events.emit("http.wake", {
      listener: this.#config.name,
      route: route.name,
      service: route.service,
      keys: route.wake,
    });
  }

  #ended(link: Link<InFlight>, r: ExchangeRecord): void {
    this.#inFlight.remove(link);
    this.#ctx.events.emit("session.end", sessionEnded(this.#config.name, r));
    if (this.#inFlight.size === 0) for (const cb of this.#idle.splice(0)) cb();
  }

  #onRequest(req: InboundRequest): void {
    const x = new HttpExchange(this.#env, req, (r) => this.#ended(link, r));
    const link = this.#inFlight.add(x);
    // Accepted before the reload that bound this listener was committed: routed and timed from then.
    const gate = this.#ctx.gate;
    if (gate === undefined || gate.open) runExchange(x);
    else whenOpen(gate, () => runExchange(x, performance.now()));
  }

  #onUpgrade(head: RequestHead, sock: Socket, rest: Buffer, client: string): void {
    const link = this.#inFlight.add(upgradeInFlight(head, sock, client));
    const o = options(this.#config);
    whenOpen(this.#ctx.gate, () => {
      if (sock.destroyed) this.#inFlight.remove(link);
      else
        relayUpgrade(this.#env, upgradeOptions(o), head, client, sock, rest, (r) =>
          this.#ended(link, r),
        ).catch(() => sock.destroy());
    });
  }

  #onConnection(sock: Socket): void {
    const c = new ServerConn(sock, connLimits(options(this.#config)), this.#connHandler);
    c.link = this.#conns.add(c);
  }

  #create(): Server {
    const cfg = this.#config;
    return createFrontServer(cfg, options(cfg), {
      connection: (sock) => this.#onConnection(sock),
      sni: () => this.#sni,
      tlsError: (err, sock) =>
        this.#ctx.events.emit("listener.error", {
          listener: this.#config.name,
          code: ErrorCodes.TLS_HANDSHAKE,
          error: err.message,
          client: `${sock.remoteAddress}:${sock.remotePort}`,
        }),
      error: (err) =>
        this.#ctx.events.emit("listener.error", {
          listener: this.#config.name,
          code: ErrorCodes.ACCEPT,
          error: err.message,
        }),
      dropped: (client, max) =>
        this.#ctx.events.emit("listener.error", {
          listener: this.#config.name,
          code: ErrorCodes.CONNECTION_LIMIT,
          error: `${max} connections already open`,
          client,
        }),
    });
  }

  /** One timer per listener checks every connection's time bounds. */
  #startSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = setInterval(
      () => {
        const now = performance.now();
        for (const c of this.#conns.values()) c.check(now);
        // A reload's new generation lets go of the pools of servers it dropped, without waiting for a request.
        this.#current();
        this.upstreams.check(now);
      },
      sweepEveryMs(options(this.#config)),
    );
    this.#sweep.unref();
  }

  #listen(server: Server): Promise<void> {
    return bindListener(server, this.#config, this.#ctx);
  }

  start(): Promise<void> {
    this.#server = this.#create();
    this.#startSweep();
    return this.#listen(this.#server);
  }

  update(config: ListenerConfig): void {
    const old = this.#config;
    this.#config = config;
    const server = this.#server;
    if (!server) return;
    const o = options(config);
    server.maxConnections = o.maxConnections;
    const limits = connLimits(o);
    for (const c of this.#conns.values()) c.limits = limits;
    this.#startSweep();
    if (!config.tls || !("setSecureContext" in server)) return;
    if (sameServerTls(config.tls, old.tls)) return;
    try {
      // Both before the next handshake; a connection already up keeps the context it got.
      const sni = new SniTable(config.tls.sni, config.tls.ca);
      (server as unknown as { setSecureContext(o: object): void }).setSecureContext(tlsOptions(config.tls));
      this.#sni = sni;
      this.#ctx.events.emit("listener.tls_reloaded", { listener: config.name });
    } catch (err) {
      this.#ctx.events.emit("listener.error", {
        listener: config.name,
        code: ErrorCodes.TLS_RELOAD,
        error: errorMessage(err),
      });
    }
  }

  /** Closes the listening socket only (requests in flight go on), so a successor can bind. */
  async release(): Promise<void> {
    await releaseListening(this.#server);
  }

  async rebind(): Promise<void> {
    if (this.#closed || !this.#server || this.#server.listening) return;
    await this.#listen(this.#server);
  }

  async drain(deadline: number): Promise<void> {
    this.#draining = true;
    await this.release();
    for (const c of this.#conns.values()) c.closeIfIdle();
    if (this.#inFlight.size > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
        this.#idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#draining = true;
    const server = this.#server;
    server?.close();
    clearInterval(this.#sweep);
    for (const s of this.#inFlight.values()) s.destroy("proxy closing");
    for (const c of this.#conns.values()) c.socket.destroy();
    await this.upstreams.close(0);
  }
}
