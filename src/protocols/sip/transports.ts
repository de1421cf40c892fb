/**
 * The sockets of one SIP listener: UDP and TCP on one port number, or TLS on its own
 * (RFC 3261 §18), each handing whole messages to the proxy, and one send() that picks the
 * socket by the target's transport. With port 0, the port the first transport gets is the
 * one every other binds (tried again on another when it is taken).
 */

import type { TlsServerConfig } from "../../config/types.ts";
import { sharesPort } from "../../net/reuse-port.ts";
import { UdpEndpoint, type UdpEndpointStats } from "../../net/udp-endpoint.ts";
import { parseMessage } from "./message.ts";
import type { SipClientTls, SipStreamStats } from "./stream-options.ts";
import { SipStreamTransport } from "./stream-transport.ts";
import type {
  SendFailed,
  SipDropped,
  SipFlow,
  SipInbound,
  SipPeer,
  SipSender,
  SipTransportName,
} from "./transport.ts";
import type { SipError } from "./types.ts";

export interface SipTransportsOptions {
  readonly host: string;
  readonly port: number;
  /** SO_REUSEPORT on every socket, for a configured port (never for 0: net/reuse-port.ts). */
  readonly reusePort: boolean;
  /** Share a `:0` UDP port too: worker threads join the port the main thread got. */
  readonly sharePortZero?: boolean;
  readonly transports: readonly SipTransportName[];
  readonly tls: TlsServerConfig | undefined;
  readonly onMessage: (m: SipInbound) => void;
  /** A datagram or stream that was no SIP message, or a message that could not be sent. */
  readonly onDropped: (d: SipDropped) => void;
  readonly onError: (error: string) => void;
  /** Outbound TLS per server (its `tls:` in the pool); none: system CAs, certificate verified. */
  readonly clientTlsFor?: (peer: SipPeer) => SipClientTls | undefined;
}

const BIND_TRIES = 5;

/** One transport of a listener as the metrics read it. */
export interface TransportView {
  readonly transport: SipTransportName;
  /** Open connections (stream transports only). */
  readonly connections: number | undefined;
  /** Counters since start, by name (received, timeouts, refusedPerSource...). */
  readonly counts: Readonly<Record<string, number>>;
}

export class SipTransports implements SipSender {
  readonly #o: SipTransportsOptions;
  #udp: UdpEndpoint | undefined;
  readonly #streams = new Map<"tcp" | "tls", SipStreamTransport>();
  #port = 0;

  constructor(o: SipTransportsOptions) {
    this.#o = o;
  }

  get address(): { host: string; port: number } | undefined {
    return this.#port === 0 ? undefined : { host: this.#o.host, port: this.#port };
  }

  get udpStats(): UdpEndpointStats | undefined {
    return this.#udp?.stats;
  }

  streamStats(t: "tcp" | "tls"): SipStreamStats | undefined {
    return this.#streams.get(t)?.stats();
  }

  /** Each transport's counters since start (and open connections on a stream), for metrics. */
  views(): TransportView[] {
    const out: TransportView[] = [];
    const udp = this.#udp?.stats;
    if (udp !== undefined) {
      const { recvBufferBytes: _r, sendBufferBytes: _s, ...counts } = udp;
      out.push({ transport: "udp", connections: undefined, counts });
    }
    for (const [transport, st] of this.#streams)
      out.push({ transport, connections: st.connections, counts: { ...st.stats() } });
    return out;
  }

  async start(): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        await this.#bindAll(this.#o.port);
        return;
      } catch (err) {
        await this.close();
        const taken = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
        if (!taken || this.#o.port !== 0 || i >= BIND_TRIES) throw err;
      }
    }
  }

  async #bindAll(wanted: number): Promise<void> {
    let port = wanted;
    for (const t of this.#o.transports) {
      port = t === "udp" ? await this.#bindUdp(port) : await this.#bindStream(t, port);
      this.#port = port;
    }
  }

  async #bindUdp(port: number): Promise<number> {
    const ep = new UdpEndpoint({
      host: this.#o.host,
      port,
      reusePort: this.#o.sharePortZero ? this.#o.reusePort : sharesPort(this.#o.reusePort, this.#o.port),
      onDatagram: (buf, from) => {
        const source: SipPeer = { transport: "udp", host: from.address, port: from.port };
        const parsed = parseMessage(buf, { stream: false });
        if (!parsed.ok) this.#o.onDropped({ source, error: parsed.error });
        else
          this.#o.onMessage({ message: parsed.message, source, flow: undefined, size: buf.length, raw: buf });
      },
      onError: (err, where) => {
        if (where !== "send") this.#o.onError(`udp ${where}: ${err.message}`);
      },
    });
    await ep.start();
    this.#udp = ep;
    return ep.address?.port ?? port;
  }

  async #bindStream(t: "tcp" | "tls", port: number): Promise<number> {
    const tls = this.#o.tls;
    const st = new SipStreamTransport({
      transport: t,
      host: this.#o.host,
      port,
      reusePort: sharesPort(this.#o.reusePort, this.#o.port),
      ...(t === "tls" && tls
        ? { tls: { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}) } }
        : {}),
      ...(this.#o.clientTlsFor ? { clientTlsFor: this.#o.clientTlsFor } : {}),
      onMessage: this.#o.onMessage,
      onDropped: this.#o.onDropped,
    });
    this.#streams.set(t, st);
    await st.start();
    return st.address?.port ?? port;
  }

  send(to: SipPeer, bytes: Buffer, flow?: SipFlow, failed?: SendFailed): boolean {
    if (to.transport === "udp") {
      if (this.#udp === undefined) return this.#unsent(to, "no udp socket on this listener");
      this.#udp.send(bytes, to.port, to.host);
      return true;
    }
    const st = this.#streams.get(to.transport);
    if (st === undefined) return this.#unsent(to, `no ${to.transport} transport on this listener`);
    return st.send(to, bytes, flow, failed);
  }

  #unsent(to: SipPeer, message: string): false {
    const error: SipError = { code: "no_transport", message };
    this.#o.onDropped({ source: to, error });
    return false;
  }

  /** Listening sockets closed for a hand-over; UDP goes too (one port, one owner). */
  async release(): Promise<void> {
    await this.#udp?.close();
    this.#udp = undefined;
    for (const st of this.#streams.values()) await st.release();
  }

  async rebind(): Promise<void> {
    if (this.#o.transports.includes("udp") && this.#udp === undefined) await this.#bindUdp(this.#port);
    for (const st of this.#streams.values()) await st.rebind();
  }

  async close(): Promise<void> {
    await this.#udp?.close();
    this.#udp = undefined;
    for (const st of this.#streams.values()) await st.close();
    this.#streams.clear();
  }
}
