/**
 * A SIP listener (ProtocolListener): a UDP endpoint feeding the proxy core, the calls table's
 * sweep, and the session.end event of each call. Drain refuses new INVITEs while the calls
 * in progress go on (their BYE must still get through, so the socket stays open until the
 * last call ends or the deadline passes).
 */

import { randomBytes } from "node:crypto";
import { isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import type { Pool } from "../../balance/pool.ts";
import type { ListenerConfig } from "../../config/types.ts";
import { ErrorCodes } from "../../core/errors.ts";
import { heldUntilOpen } from "../../core/gate.ts";
import type { LoadShed } from "../../net/load-shed.ts";
import type { SessionInfo } from "../../net/stream-listener.ts";
import type { UdpEndpointStats } from "../../net/udp-endpoint.ts";
import type { ListenerContext, ProtocolListener, ThreadMeshView } from "../protocol.ts";
import { runsOnEveryThread } from "../threads.ts";
import { callEnded } from "./call-log.ts";
import type { CallEnd, CallRecord } from "./calls.ts";
import { realClock, type SipClock } from "./clock.ts";
import { rrKey, type SipListenerOptions } from "./config.ts";
import { headerValue } from "./headers.ts";
import { type Handed, hand, ownerOf, revive } from "./mesh-hand.ts";
import { sipShedder } from "./overload.ts";
import { SipProxy } from "./proxy.ts";
import type { SipRoutes } from "./routes.ts";
import type { SipClientTls } from "./stream-options.ts";
import type { SipInbound, SipPeer } from "./transport.ts";
import { SipTransports } from "./transports.ts";
import { sameHost } from "./uri.ts";

/** Messages kept while the listener waits for its reload's commit; beyond them, dropped and counted. */
const HELD_BEFORE_COMMIT = 1024;

function options(l: ListenerConfig): SipListenerOptions {
  return l.options as SipListenerOptions;
}

/** The address to advertise when listening on a wildcard: the first external IPv4, else loopback. */
function wildcardHost(host: string): string {
  if (host !== "0.0.0.0" && host !== "::") return host;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return "127.0.0.1";
}

/** A pool server's own `tls:` (as FastAGI's upstream TLS), for a TLS connection to it. */
function serverTls(pools: ReadonlyMap<string, Pool>, peer: SipPeer): SipClientTls | undefined {
  for (const p of pools.values())
    for (const m of p.servers) {
      const a = m.config.address;
      const t = m.config.tls;
      if (t === undefined || a.port !== peer.port || !sameHost(a.host, peer.host)) continue;
      return {
        verify: t.verify,
        ...(t.ca ? { ca: t.ca } : {}),
        ...(t.cert ? { cert: t.cert } : {}),
        ...(t.key ? { key: t.key } : {}),
        ...(t.servername !== undefined ? { servername: t.servername } : {}),
      };
    }
  return undefined;
}

/** The thread channels, when this SIP listener runs on every thread (UDP only, workers above 1). */
function handOff(ctx: ListenerContext, cfg: ListenerConfig): ThreadMeshView | undefined {
  const mesh = ctx.mesh;
  return mesh && mesh.threads > 1 && runsOnEveryThread(cfg) ? mesh : undefined;
}

export { ownerOf };

export class SipListener implements ProtocolListener {
  #config: ListenerConfig;
  readonly #ctx: ListenerContext;
  readonly #clock: SipClock;
  #transports: SipTransports | undefined;
  #proxy: SipProxy | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #shed: LoadShed | undefined;
  #closed = false;
  #offMesh: (() => void) | undefined;
  /** Datagrams that were no SIP message, by parse error code. */
  readonly malformed = new Map<string, number>();

  constructor(config: ListenerConfig, ctx: ListenerContext, clock: SipClock = realClock) {
    this.#config = config;
    this.#ctx = ctx;
    this.#clock = clock;
  }

  get config(): ListenerConfig {
    return this.#config;
  }

  get sessions(): number {
    return this.#proxy?.calls.size ?? 0;
  }

  get pending(): number {
    return 0;
  }

  get address(): { host: string; port: number } | undefined {
    return this.#transports?.address;
  }

  get proxy(): SipProxy | undefined {
    return this.#proxy;
  }

  /** Load shedding now (overload.ts): the share of new calls refused; undefined when off. */
  get overload(): ReturnType<LoadShed["status"]> | undefined {
    return this.#shed?.status();
  }

  get udpStats(): UdpEndpointStats | undefined {
    return this.#transports?.udpStats;
  }

  get transports(): SipTransports | undefined {
    return this.#transports;
  }

  sessionsInfo(limit: number): SessionInfo[] {
    return (this.#proxy?.calls.newest(limit) ?? []).map((c) => ({
      client: c.client,
      request: `${c.callId} ${c.request}`,
      route: c.route,
      pool: c.pool,
      server: c.server,
      startedAt: c.startedAt,
      bytesIn: 0,
      bytesOut: 0,
    }));
  }

  async start(): Promise<void> {
    const cfg = this.#config;
    const o = options(cfg);
    const mesh = handOff(this.#ctx, cfg);
    const transports = new SipTransports({
      host: cfg.listen.host,
      port: cfg.listen.port,
      reusePort: this.#ctx.reusePort,
      ...(mesh && this.#ctx.sharePortZero ? { sharePortZero: true } : {}),
      transports: o.transports,
      tls: cfg.tls,
      onMessage: this.#held(mesh ? (m) => this.#toOwner(mesh, m) : (m) => this.#proxy?.handle(m)),
      onDropped: (d) => {
        const code = d.error.code;
        this.malformed.set(code, (this.malformed.get(code) ?? 0) + 1);
        this.#proxy?.drop(code === "no_transport" ? code : `malformed_${code}`);
      },
      onError: (error) =>
        this.#ctx.events.emit("listener.error", { listener: cfg.name, code: ErrorCodes.ACCEPT, error }),
      clientTlsFor: (peer) => serverTls(this.#ctx.current().pools, peer),
    });
    await transports.start();
    this.#transports = transports;
    if (mesh) {
      const handed = this.#held((m) => this.#proxy?.handle(m));
      this.#offMesh = mesh.on(`sip:${cfg.name}`, (p) => {
        const m = revive(p as Handed);
        // Parsed on the sending thread: never, unless the two threads' parsers differ.
        if ("code" in m) this.#proxy?.drop("handoff_unparsable");
        else handed(m);
      });
    }
    const a = transports.address;
    if (a === undefined) throw new Error("SIP listener bound to no address");
    const us = o.advertise ?? { host: wildcardHost(a.host), port: a.port };
    const first = o.transports[0] ?? "udp";
    const gen = () => this.#ctx.current();
    const shed = sipShedder(cfg.name, o, this.#ctx.events, () =>
      transports.udpStats === undefined
        ? undefined
        : { host: a.host, port: a.port, family: isIPv6(a.host) ? "IPv6" : "IPv4" },
    );
    this.#shed = shed;
    this.#proxy = new SipProxy(
      {
        listener: cfg.name,
        options: o,
        us: { ...us, transport: first },
        serverTransport: first,
        keys: [rrKey(cfg.name, o, us)],
        sealKeys: [o.secret === undefined ? randomBytes(32) : rrKey(cfg.name, o, us)],
        sender: transports,
        clock: this.#clock,
        events: this.#ctx.events,
        pools: () => gen().pools,
        routes: () => gen().routes("sip") as SipRoutes | undefined,
        overload: shed,
      },
      (c, why, now) => this.#ended(c, why, now),
    );
    const every = Math.max(100, Math.min(o.callTimeoutMs / 4, 30_000));
    this.#sweep = setInterval(() => this.#proxy?.calls.sweep(this.#clock.now()), every);
    this.#sweep.unref();
    this.#ctx.events.emit("listener.listening", {
      listener: cfg.name,
      protocol: "sip",
      listen: `${cfg.listen.host}:${cfg.listen.port}`,
      port: a.port,
      tls: o.transports.includes("tls"),
      ...(o.secret === undefined
        ? {
            warning:
              "no secret: the Record-Route token key is derived from the listener's name and address, " +
              "which anyone who has the config can compute, and the Via seal key is this process's own " +
              "(responses to requests sent before a restart are dropped); set secret (the same on every proxy of a cluster)",
          }
        : {}),
    });
  }

  /** Messages that come before the reload that bound this listener is committed wait for it. */
  #held(deliver: (m: SipInbound) => void): (m: SipInbound) => void {
    return heldUntilOpen(this.#ctx.gate, deliver, HELD_BEFORE_COMMIT, () =>
      this.#proxy?.drop("before_commit"),
    );
  }

  /**
   * Listener threads share the UDP port and the kernel spreads datagrams by source address:
   * a call's state (its INVITE transaction, its record in the calls table) lives in the thread
   * its Call-ID hashes to, and every message of the call is handed there. A message without a
   * Call-ID is refused where it landed; one for a thread that is gone is handled here.
   */
  #toOwner(mesh: ThreadMeshView, m: SipInbound): void {
    const callId = headerValue(m.message, "call-id");
    const owner = callId === undefined ? mesh.self : ownerOf(callId, mesh.threads);
    if (owner === mesh.self) {
      this.#proxy?.handle(m);
      return;
    }
    const h = hand(m);
    const sent = h === undefined ? "gone" : mesh.send(owner, `sip:${this.#config.name}`, h);
    if (sent === "gone") this.#proxy?.handle(m);
    else if (sent === "full") this.#proxy?.drop("handoff_full");
  }

  #ended(c: CallRecord, why: CallEnd, now: number): void {
    this.#ctx.events.emit("session.end", callEnded(this.#config.name, c, why, now));
  }

  update(config: ListenerConfig): void {
    // The advertised address, key and bounds are fixed at start (sameBinding compares them).
    this.#config = config;
  }

  async release(): Promise<void> {
    await this.#transports?.release();
  }

  async rebind(): Promise<void> {
    if (!this.#closed) await this.#transports?.rebind();
  }

  async drain(deadline: number): Promise<void> {
    const proxy = this.#proxy;
    // A draining listener refuses every new call: its shedder has nothing left to do.
    this.#shed?.close();
    if (proxy !== undefined) {
      proxy.drain();
      const left = deadline - Date.now();
      if (left > 0) {
        let timer: NodeJS.Timeout | undefined;
        const limit = new Promise<void>((r) => {
          timer = setTimeout(r, Math.min(left, 2 ** 31 - 1));
        });
        await Promise.race([proxy.calls.whenEmpty(), limit]);
        clearTimeout(timer);
      }
    }
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#offMesh?.();
    clearInterval(this.#sweep);
    this.#shed?.close();
    this.#proxy?.close();
    await this.#transports?.close();
  }
}
