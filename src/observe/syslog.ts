import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { hostname } from "node:os";
import { formatRfc5424, frameOctetCounting, type SyslogTarget } from "./syslog-format.ts";

/** RFC 5426 §3.2: a receiver SHOULD take 2048 bytes; larger datagrams may be lost. */
const UDP_MAX = 2048;
const DEFAULT_QUEUE = 1000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/**
 * Sends log records to a syslog server without ever blocking or crashing the proxy: UDP
 * datagrams are fire-and-forget; TCP keeps a bounded queue (oldest dropped and counted when
 * full), respects backpressure, and reconnects with capped exponential backoff.
 */
export class SyslogSink {
  readonly target: SyslogTarget;
  readonly facility: number;
  readonly #appName: string;
  readonly #hostname: string;
  readonly #maxQueue: number;
  readonly #stats = { sent: 0, dropped: 0, errors: 0 };
  #udp: UdpSocket | undefined;
  #tcp: Socket | undefined;
  #connected = false;
  #writable = true;
  #queue: Buffer[] = [];
  #backoff = BACKOFF_MIN_MS;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: {
    target: SyslogTarget;
    facility: number;
    appName: string;
    hostname?: string;
    maxQueue?: number;
  }) {
    this.target = opts.target;
    this.facility = opts.facility;
    this.#appName = opts.appName;
    this.#hostname = opts.hostname ?? hostname();
    this.#maxQueue = opts.maxQueue ?? DEFAULT_QUEUE;
  }

  stats(): { sent: number; dropped: number; errors: number; queued: number } {
    return { ...this.#stats, queued: this.#queue.length };
  }

  write(severity: number, message: string, msgId?: string): void {
    if (this.#closed) return;
    const msg = formatRfc5424({
      facility: this.facility,
      severity,
      timestamp: new Date(),
      hostname: this.#hostname,
      appName: this.#appName,
      procId: String(process.pid),
      ...(msgId !== undefined ? { msgId } : {}),
      message,
    });
    try {
      if (this.target.transport === "udp") this.#sendUdp(msg);
      else this.#enqueue(frameOctetCounting(msg));
    } catch {
      this.#stats.errors++;
    }
  }

  #sendUdp(msg: Buffer): void {
    if (!this.#udp) {
      this.#udp = createSocket(this.target.host.includes(":") ? "udp6" : "udp4");
      this.#udp.on("error", () => {
        this.#stats.errors++;
      });
      this.#udp.unref();
    }
    const data = msg.length > UDP_MAX ? msg.subarray(0, UDP_MAX) : msg;
    this.#udp.send(data, this.target.port, this.target.host, (err) => {
      if (err) this.#stats.errors++;
      else this.#stats.sent++;
    });
  }

  #enqueue(frame: Buffer): void {
    if (this.#queue.length >= this.#maxQueue) {
      this.#queue.shift();
      this.#stats.dropped++;
    }
    this.#queue.push(frame);
    if (!this.#tcp && !this.#retry) this.#connect();
    else this.#flush();
  }

  #connect(): void {
    if (this.#closed) return;
    const sock = connect({ host: this.target.host, port: this.target.port });
    sock.unref();
    sock.setNoDelay(true);
    this.#tcp = sock;
    this.#connected = false;
    sock.on("connect", () => {
      this.#connected = true;
      this.#writable = true;
      this.#backoff = BACKOFF_MIN_MS;
      this.#flush();
    });
    sock.on("drain", () => {
      this.#writable = true;
      this.#flush();
    });
    // A syslog server never talks back; anything it sends is ignored.
    sock.on("data", () => {});
    sock.on("error", () => {
      this.#stats.errors++;
    });
    sock.on("close", () => {
      if (this.#tcp !== sock) return;
      this.#tcp = undefined;
      this.#connected = false;
      if (this.#closed) return;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (this.#queue.length > 0) this.#connect();
      }, this.#backoff);
      this.#retry.unref();
      this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
    });
  }

  #flush(): void {
    const sock = this.#tcp;
    if (!sock || !this.#connected) return;
    while (this.#writable && this.#queue.length > 0) {
      const frame = this.#queue.shift() as Buffer;
      this.#stats.sent++;
      this.#writable = sock.write(frame);
    }
  }

  /** Flushes what it can within `timeoutMs`, then lets go. */
  async close(timeoutMs = 1000): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const tcp = this.#tcp;
    if (tcp) {
      this.#flush();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          tcp.destroy();
          resolve();
        }, timeoutMs);
        t.unref();
        tcp.end(() => {
          clearTimeout(t);
          resolve();
        });
        if (!this.#connected) {
          clearTimeout(t);
          tcp.destroy();
          resolve();
        }
      });
    }
    this.#udp?.close();
    this.#udp = undefined;
  }
}
