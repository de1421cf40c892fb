import { createSocket, type Socket as UdpSocket } from "node:dgram";
import type { RecordQueue } from "./syslog-queue.ts";

/** UDP sends handed to libuv and not yet called back; the rest wait in the bounded queue. */
const UDP_IN_FLIGHT = 64;

/** What the UDP sender needs from the sink that owns it. */
export interface UdpHost {
  /** close() has begun: new sockets keep the process alive for the bounded flush. */
  closing(): boolean;
  fail(err: unknown): void;
  sent(): void;
  /** A send finished: more records may go now. */
  pump(): void;
}

interface UdpState {
  readonly sock: UdpSocket;
  readonly family: 4 | 6;
  inFlight: number;
}

/** One datagram per record, with a bounded number in flight, on a socket made on demand. */
export class UdpSender {
  readonly #host: UdpHost;
  readonly #port: number;
  /** The datagram socket with its own in-flight count, so a replaced socket's late callbacks cannot skew the new one's. */
  #udp: UdpState | undefined;

  constructor(host: UdpHost, port: number) {
    this.#host = host;
    this.#port = port;
  }

  get inFlight(): number {
    return this.#udp?.inFlight ?? 0;
  }

  /** Sends queued records to `addr` until the queue is empty or the in-flight bound is reached. */
  send(queue: RecordQueue, addr: { ip: string; family: 4 | 6 }): void {
    let udp = this.#udp;
    if (!udp || udp.family !== addr.family) {
      if (udp) closeQuietly(udp.sock);
      const sock = createSocket(addr.family === 6 ? "udp6" : "udp4");
      const fresh = { sock, family: addr.family, inFlight: 0 };
      sock.on("error", (err) => {
        this.#host.fail(err);
        if (this.#udp === fresh) this.#udp = undefined;
        closeQuietly(sock);
      });
      if (this.#host.closing()) sock.ref();
      else sock.unref();
      this.#udp = udp = fresh;
    }
    const u = udp;
    while (queue.length > 0 && u.inFlight < UDP_IN_FLIGHT) {
      const datagram = queue.shift();
      u.inFlight++;
      try {
        u.sock.send(datagram, this.#port, addr.ip, (err) => {
          u.inFlight--;
          if (err) this.#host.fail(err);
          else this.#host.sent();
          if (this.#udp === u) this.#host.pump();
        });
      } catch (err) {
        // The socket was closed under us (its 'error' above): this record is lost.
        u.inFlight--;
        this.#host.fail(err);
        break;
      }
    }
  }

  /** Lets the socket keep the process alive (close()'s bounded flush). */
  ref(): void {
    this.#udp?.sock.ref();
  }

  close(): void {
    if (this.#udp) closeQuietly(this.#udp.sock);
    this.#udp = undefined;
  }
}

/** dgram's close() throws when the socket is already closed; here that is not an error. */
function closeQuietly(sock: UdpSocket): void {
  try {
    sock.close();
  } catch {}
}
