/**
 * A UDP socket for SIP (RFC 3261 §18): one bound address, every datagram handed on with the
 * address it came from, sends that never throw. A SIP proxy on UDP is a loop of "datagram in,
 * datagram out", so what matters here is that nothing a peer sends, and no send that fails,
 * can crash the process, and that losses are counted where an operator can see them.
 */

import { createSocket, type Socket, type SocketOptions } from "node:dgram";
import { isIPv6 } from "node:net";

/** 4 MiB: below that, loopback SIP drops packets from about 1,500 calls/s (see sip.md). */
export const UDP_BUFFER_BYTES = 4 * 1024 * 1024;
/** The largest UDP payload there is; SIP's own message limit is the same number. */
export const UDP_MAX_DATAGRAM_BYTES = 65_535;
/** How long close() waits for the sends it let go to be done. */
const CLOSE_WAIT_MS = 1_000;

export interface UdpRemote {
  readonly address: string;
  readonly port: number;
  readonly family: "IPv4" | "IPv6";
}

export interface UdpEndpointOptions {
  /** The address to bind: an IPv6 literal gives a udp6 socket, anything else udp4. */
  readonly host: string;
  /** 0 for a port the kernel chooses (read it back from `address`). */
  readonly port: number;
  /** SO_REUSEPORT, so a successor process can bind beside this one (default false). */
  readonly reusePort?: boolean;
  /** Called for each datagram within the size limit. Its throw is counted, never fatal. */
  readonly onDatagram: (msg: Buffer, from: UdpRemote) => void;
  /** Asked-for receive and send buffer bytes (default UDP_BUFFER_BYTES). */
  readonly bufferBytes?: number;
  /** Datagrams longer than this are dropped and counted (default UDP_MAX_DATAGRAM_BYTES). */
  readonly maxDatagramBytes?: number;
  /** Socket errors after start, send failures and handler throws, for logging. */
  readonly onError?: (err: Error, where: "socket" | "send" | "handler") => void;
}

/** Counters since start, plain numbers; a fresh copy on every read. */
export interface UdpEndpointStats {
  readonly received: number;
  readonly sent: number;
  readonly sendErrors: number;
  readonly oversizeDropped: number;
  readonly handlerErrors: number;
  readonly socketErrors: number;
  /** The buffer sizes the kernel actually gave (Linux reports twice what it grants). */
  readonly recvBufferBytes: number;
  readonly sendBufferBytes: number;
}

export class UdpEndpoint {
  readonly #o: UdpEndpointOptions;
  readonly #max: number;
  #socket: Socket | undefined;
  #closed: Promise<void> | undefined;
  #received = 0;
  #sent = 0;
  #sendErrors = 0;
  /** Datagrams held to the end of this turn: buffer, port, host, flat. */
  #out: Array<Buffer | number | string> = [];
  #flushing = false;
  /** Sends handed to the socket whose callback has not come yet; close() waits for them. */
  #inFlight = 0;
  #whenIdle: (() => void) | undefined;
  #oversize = 0;
  #handlerErrors = 0;
  #socketErrors = 0;
  #recvBuffer = 0;
  #sendBuffer = 0;

  constructor(opts: UdpEndpointOptions) {
    this.#o = opts;
    this.#max = opts.maxDatagramBytes ?? UDP_MAX_DATAGRAM_BYTES;
  }

  /** The bound address once started, else undefined. */
  get address(): { readonly host: string; readonly port: number } | undefined {
    try {
      const a = this.#socket?.address();
      return a ? { host: a.address, port: a.port } : undefined;
    } catch {
      return undefined; // not bound yet, or closed
    }
  }

  get stats(): UdpEndpointStats {
    return {
      received: this.#received,
      sent: this.#sent,
      sendErrors: this.#sendErrors,
      oversizeDropped: this.#oversize,
      handlerErrors: this.#handlerErrors,
      socketErrors: this.#socketErrors,
      recvBufferBytes: this.#recvBuffer,
      sendBufferBytes: this.#sendBuffer,
    };
  }

  /**
   * Binds. No SO_REUSEADDR: a second socket on the port is an error, not a split, unless
   * `reusePort` asks for one (a successor process binding beside this one, the kernel
   * spreading datagrams over both by their source address).
   */
  async start(): Promise<void> {
    if (this.#socket || this.#closed) throw new Error("UdpEndpoint already started or closed");
    const opts: SocketOptions & { reusePort?: boolean } = {
      type: isIPv6(this.#o.host) ? "udp6" : "udp4",
      reuseAddr: false,
      reusePort: this.#o.reusePort === true,
    };
    const socket = createSocket(opts);
    this.#socket = socket;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        this.#closed = Promise.resolve();
        reject(err);
      };
      socket.once("error", onError);
      // exclusive: a cluster worker gets a socket of its own, never one shared via the primary.
      socket.bind({ address: this.#o.host, port: this.#o.port, exclusive: true }, () => {
        socket.off("error", onError);
        resolve();
      });
    });
    socket.on("error", (err) => {
      this.#socketErrors++;
      this.#o.onError?.(err, "socket");
    });
    socket.on("message", (msg, rinfo) => this.#message(msg, rinfo));
    this.#sizeBuffers(socket);
  }

  /**
   * Asks for the buffers; the kernel caps them (net.core.rmem_max / wmem_max) or refuses,
   * which is no reason not to run: the size got is what the stats report.
   */
  #sizeBuffers(socket: Socket): void {
    const want = this.#o.bufferBytes ?? UDP_BUFFER_BYTES;
    try {
      socket.setRecvBufferSize(want);
    } catch {
      // keep the default
    }
    try {
      socket.setSendBufferSize(want);
    } catch {
      // keep the default
    }
    try {
      this.#recvBuffer = socket.getRecvBufferSize();
      this.#sendBuffer = socket.getSendBufferSize();
    } catch {
      // unreadable: report 0
    }
  }

  #message(msg: Buffer, rinfo: { address: string; port: number; family: string }): void {
    if (msg.length > this.#max) {
      this.#oversize++;
      return;
    }
    this.#received++;
    try {
      this.#o.onDatagram(msg, {
        address: rinfo.address,
        port: rinfo.port,
        family: rinfo.family === "IPv6" ? "IPv6" : "IPv4",
      });
    } catch (err) {
      this.#handlerErrors++;
      this.#o.onError?.(err instanceof Error ? err : new Error(String(err)), "handler");
    }
  }

  /**
   * Sends one datagram. Never throws: a bad port, a closed endpoint or a failure the kernel
   * reports later all count as send errors. Nothing on UDP is delivered for sure anyway; SIP
   * retransmits.
   */
  send(buf: Buffer, port: number, host: string): void {
    if (this.#socket === undefined || this.#closed !== undefined) {
      this.#sendErrors++;
      return;
    }
    // Held to the end of this turn of the loop (write-batch.ts says why): the datagrams of a
    // batch of events leave back to back, so a peer woken by the first is awake for the rest.
    this.#out.push(buf, port, host);
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushing = false;
    const out = this.#out;
    this.#out = [];
    for (let i = 0; i + 2 < out.length; i += 3)
      this.#sendNow(out[i] as Buffer, out[i + 1] as number, out[i + 2] as string);
  };

  #sendNow(buf: Buffer, port: number, host: string): void {
    const socket = this.#socket;
    if (socket === undefined) {
      this.#sendErrors++;
      return;
    }
    try {
      socket.send(buf, port, host, this.#sentCb);
      this.#inFlight++;
    } catch (err) {
      this.#sendErrors++;
      this.#o.onError?.(err instanceof Error ? err : new Error(String(err)), "send");
    }
  }

  readonly #sentCb = (err: Error | null): void => {
    if (--this.#inFlight === 0) this.#whenIdle?.();
    if (err) {
      this.#sendErrors++;
      this.#o.onError?.(err, "send");
    } else this.#sent++;
  };

  /** Closes the socket and releases the port; safe to call more than once, or never started. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    const socket = this.#socket;
    if (socket === undefined) {
      this.#closed = Promise.resolve();
      return this.#closed;
    }
    // What this turn held still leaves: the socket closes once those sends are done (or 1 s).
    if (this.#flushing) this.#flush();
    this.#closed = new Promise<void>((resolve) => {
      let shut = false;
      const shutNow = () => {
        if (shut) return;
        shut = true;
        try {
          socket.close(() => resolve());
        } catch {
          resolve(); // already closed
        }
      };
      if (this.#inFlight === 0) shutNow();
      else {
        this.#whenIdle = shutNow;
        setTimeout(shutNow, CLOSE_WAIT_MS).unref();
      }
    });
    return this.#closed;
  }
}
