/**
 * SIP over TCP or TLS (RFC 3261 §18): a listening socket, the connections it accepted and
 * the ones it opened, and one `send` whatever the connection. A connection a peer opened to
 * us is also the way to that peer (§18.2.2, and RFC 5923's reuse): a FreeSWITCH that
 * connected gets its responses and our requests on it. The connection count is bounded, and
 * so is everything a connection waits for (stream-connection.ts).
 */

import {
  createServer as createNetServer,
  isIP,
  connect as netConnect,
  type Server,
  type Socket,
} from "node:net";
import {
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
  connect as tlsConnect,
} from "node:tls";
import { listenAt } from "../../net/binding.ts";
import { clientTlsOptions } from "../../net/tls-client.ts";
import { type ConnectionOwner, SipStreamConnection } from "./stream-connection.ts";
import {
  emptyStats,
  type SipStreamConfig,
  type SipStreamOptions,
  type SipStreamStats,
  streamConfig,
} from "./stream-options.ts";
import type { SendFailed, SipDropped, SipFlow, SipPeer, SipSender } from "./transport.ts";

export type { SipStreamOptions, SipStreamStats } from "./stream-options.ts";
export { SipStreamOptionsError } from "./stream-options.ts";

/** How long close() waits for the sockets it destroyed to report closed. */
const CLOSE_WAIT_MS = 2_000;

export class SipStreamTransport implements SipSender {
  readonly #o: SipStreamOptions;
  readonly #owner: ConnectionOwner;
  #server: Server | TlsServer | undefined;
  #port = 0;
  /** Inbound sockets from accept to close (for TLS, the TCP socket under the TLS one). */
  readonly #raw = new Set<Socket>();
  /**
   * Sockets open, by the peer's address, inbound and outbound: the proxy dials a caller whose
   * connection is gone to answer it (§18.2.2), so a caller that drops its connection after
   * each request must not get past maxPerSource that way.
   */
  readonly #perSource = new Map<string, number>();
  readonly #conns = new Set<SipStreamConnection>();
  #outbound = 0;
  /** The connection to use for each peer, by host then port: inbound ones and ours. */
  readonly #byPeer = new Map<string, Map<number, SipStreamConnection>>();
  #nextId = 1;
  #closing = false;
  #whenEmpty: (() => void)[] = [];

  constructor(options: SipStreamOptions) {
    this.#o = options;
    const config: SipStreamConfig = streamConfig(options);
    const byPeer = this.#byPeer;
    this.#owner = {
      config,
      stats: emptyStats(),
      onMessage: options.onMessage,
      onDropped: options.onDropped,
      retired(conn) {
        const ports = byPeer.get(conn.peer.host);
        if (ports?.get(conn.peer.port) !== conn) return;
        ports.delete(conn.peer.port);
        if (ports.size === 0) byPeer.delete(conn.peer.host);
      },
      ended: (conn) => {
        this.#conns.delete(conn);
        if (conn.outbound) {
          this.#outbound--;
          this.#count(conn.peer.host, -1);
        }
        this.#checkEmpty();
      },
    };
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  /** Open sockets, inbound (from accept, TLS handshake included) and outbound. */
  get connections(): number {
    return this.#raw.size + this.#outbound;
  }

  stats(): SipStreamStats {
    return { ...this.#owner.stats };
  }

  async start(): Promise<void> {
    if (this.#server || this.#closing) throw new Error("SipStreamTransport already started or closed");
    this.#server = this.#createServer();
    await listenAt(this.#server, this.#o.host, this.#o.port, this.#o.reusePort === true);
    this.#port = this.address?.port ?? this.#o.port;
  }

  send(to: SipPeer, bytes: Buffer, flow?: SipFlow, failed?: SendFailed): boolean {
    if (flow?.open) return flow.send(bytes, failed);
    const c = this.#owner.config;
    if (this.#closing || to.transport !== c.transport) {
      this.#owner.stats.sendFailures++;
      return false;
    }
    const host = normalizeHost(to.host);
    const conn = this.#byPeer.get(host)?.get(to.port);
    if (conn) return conn.send(bytes, failed);
    if (this.connections >= c.maxConnections || (this.#perSource.get(host) ?? 0) >= c.maxPerSource) {
      this.#owner.stats.sendFailures++;
      return false;
    }
    this.#count(host, 1);
    return this.#connect({ transport: c.transport, host, port: to.port }).send(bytes, failed);
  }

  /** Closes the listening socket only (connections go on), so a successor can bind the address. */
  async release(): Promise<void> {
    const s = this.#server;
    if (!s?.listening) return;
    await new Promise<void>((resolve) => {
      s.close();
      // close()'s callback waits for every connection; only the listening socket matters here.
      setImmediate(resolve);
    });
  }

  /** Listens again on the same address after a failed hand-over. */
  async rebind(): Promise<void> {
    const s = this.#server;
    if (!s || s.listening || this.#closing) return;
    await listenAt(s, this.#o.host, this.#port, this.#o.reusePort === true);
  }

  /** Stops listening and ends every connection now; resolves once their sockets have closed. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#server?.listening) this.#server.close();
    for (const conn of this.#conns) conn.destroy();
    for (const raw of this.#raw) raw.destroy();
    if (this.#conns.size === 0 && this.#raw.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      this.#whenEmpty.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #checkEmpty(): void {
    if (this.#conns.size === 0 && this.#raw.size === 0) for (const cb of this.#whenEmpty.splice(0)) cb();
  }

  #createServer(): Server | TlsServer {
    const o = this.#o;
    const c = this.#owner.config;
    const server =
      o.transport === "tls" && o.tls
        ? createTlsServer(
            {
              cert: o.tls.cert,
              key: o.tls.key,
              ...(o.tls.ca ? { ca: o.tls.ca } : {}),
              handshakeTimeout: c.handshakeTimeoutMs,
            },
            (sock: TLSSocket) => this.#adopt(sock),
          )
        : createNetServer();
    // A TLS server emits the TCP socket here first, and the TLS one on secureConnection.
    server.on("connection", (raw: Socket) => {
      if (this.#take(raw) && c.transport === "tcp") this.#adopt(raw);
    });
    if (c.transport === "tls")
      server.on("tlsClientError", (err: NodeJS.ErrnoException, sock: TLSSocket) => {
        const timeout = err.code === "ERR_TLS_HANDSHAKE_TIMEOUT";
        if (timeout) this.#owner.stats.timeouts++;
        const source = peerOf(sock, c);
        sock.destroy();
        if (source)
          this.#tell({
            source,
            error: { code: timeout ? "tls_handshake_timeout" : "tls_handshake_failed", message: err.message },
          });
      });
    // Accept errors (EMFILE and the like) are the kernel's: the listener goes on.
    server.on("error", () => {});
    return server;
  }

  /** Counts an accepted TCP socket, or closes it at once when closing or over the limit. */
  #take(raw: Socket): boolean {
    raw.on("error", () => {});
    if (this.#closing) {
      raw.destroy();
      return false;
    }
    const c = this.#owner.config;
    const source = raw.remoteAddress ?? "";
    const fromSource = this.#perSource.get(source) ?? 0;
    // A tenth of the connections is kept for ours to the servers; one source gets maxPerSource.
    if (
      this.connections >= c.maxConnections ||
      this.#raw.size >= c.maxConnections - c.maxConnections / 10 ||
      fromSource >= c.maxPerSource
    ) {
      if (fromSource >= c.maxPerSource) this.#owner.stats.refusedPerSource++;
      else this.#owner.stats.refusedOverLimit++;
      raw.destroy();
      return false;
    }
    this.#owner.stats.accepted++;
    this.#raw.add(raw);
    this.#count(source, 1);
    raw.once("close", () => {
      this.#raw.delete(raw);
      this.#count(source, -1);
      this.#checkEmpty();
    });
    raw.setNoDelay(true);
    raw.setKeepAlive(true, 30_000);
    return true;
  }

  /** An established inbound connection (TLS: handshake done) becomes a flow. */
  #adopt(sock: Socket): void {
    const peer = peerOf(sock, this.#owner.config);
    if (this.#closing || peer === undefined) {
      sock.destroy();
      return;
    }
    const conn = new SipStreamConnection(sock, peer, this.#nextId++, this.#owner, false);
    this.#conns.add(conn);
    this.#register(conn);
  }

  #count(host: string, delta: number): void {
    const n = (this.#perSource.get(host) ?? 0) + delta;
    if (n > 0) this.#perSource.set(host, n);
    else this.#perSource.delete(host);
  }

  #connect(peer: SipPeer): SipStreamConnection {
    const o = this.#o;
    const t = o.clientTlsFor?.(peer) ?? o.clientTls;
    const sock =
      peer.transport === "tls"
        ? tlsConnect({
            host: peer.host,
            port: peer.port,
            ...clientTlsOptions(t, peer.host),
          })
        : netConnect({ host: peer.host, port: peer.port });
    this.#outbound++;
    const conn = new SipStreamConnection(sock, peer, this.#nextId++, this.#owner, true);
    this.#conns.add(conn);
    this.#register(conn);
    return conn;
  }

  #register(conn: SipStreamConnection): void {
    let ports = this.#byPeer.get(conn.peer.host);
    if (ports === undefined) {
      ports = new Map();
      this.#byPeer.set(conn.peer.host, ports);
    }
    // The newest connection to a peer is the one to use: an older one may be on its way out.
    ports.set(conn.peer.port, conn);
  }

  #tell(d: SipDropped): void {
    this.#o.onDropped?.(d);
  }
}

function peerOf(sock: Socket, c: SipStreamConfig): SipPeer | undefined {
  const host = sock.remoteAddress;
  const port = sock.remotePort;
  if (host === undefined || port === undefined) return undefined;
  return { transport: c.transport, host: normalizeHost(host), port };
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`; IPv6 in lower case. */
function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.startsWith("::ffff:") && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}
