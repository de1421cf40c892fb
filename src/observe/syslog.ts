import { lookup } from "node:dns";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import {
  fitJson,
  formatRfc5424,
  frameOctetCounting,
  type SyslogTarget,
  truncateUtf8,
} from "./syslog-format.ts";
import { RecordQueue } from "./syslog-queue.ts";
import { Retry } from "./syslog-retry.ts";
import { TcpConnection } from "./syslog-tcp.ts";
import { UdpSender } from "./syslog-udp.ts";

/** RFC 5426 §3.2: every receiver takes 2048 octets; larger datagrams may be cut or lost. */
const UDP_MAX = 2048;
/** RFC 5425 §4.3.1: receivers SHOULD take 8192 octets; rsyslog's default maxMessageSize is 8k. */
const TCP_MAX = 8192;
const DEFAULT_QUEUE = 1000;
const DEFAULT_QUEUE_BYTES = 1024 * 1024;
/** dns.lookup results are reused this long, so logging never floods the libuv thread pool. */
const RESOLVE_TTL_MS = 60_000;
const CLOSE_TIMEOUT_MS = 1000;

export interface SyslogSinkOptions {
  readonly target: SyslogTarget;
  /** 0–23 (FACILITIES). */
  readonly facility: number;
  readonly appName: string;
  /** HOSTNAME field; the machine's host name by default. */
  readonly hostname?: string;
  /** Records waiting for the network, at most (default 1000); the oldest go first. */
  readonly maxQueue?: number;
  /** Bytes waiting for the network, at most (default 1 MiB). */
  readonly maxQueueBytes?: number;
}

export interface SyslogStats {
  /** Records handed to the kernel (UDP: sent; TCP: written to the socket). */
  readonly sent: number;
  /** Records given up: queue full (oldest first), or still queued when close() gave up. */
  readonly dropped: number;
  /** Send, connect and DNS failures. */
  readonly errors: number;
  readonly queued: number;
  readonly queuedBytes: number;
  readonly lastError: string | undefined;
}

/**
 * Sends log records to a syslog server without ever blocking or crashing the proxy.
 * Every record goes through one bounded queue (count and bytes; the oldest are dropped and
 * counted when full) and leaves it only when the transport can take it: UDP one datagram
 * per record with a bounded number in flight; TCP octet-counted frames (RFC 6587 §3.4.1)
 * on a lazily opened connection, written only while the socket is not applying
 * backpressure, reconnected with capped exponential backoff. The host name is resolved once
 * per RESOLVE_TTL_MS, not per record. Sockets are unref'd: logging never keeps the process
 * alive, except for close()'s bounded flush.
 */
export class SyslogSink {
  readonly target: SyslogTarget;
  readonly facility: number;
  readonly #appName: string;
  readonly #hostname: string;
  readonly #procId = String(process.pid);
  readonly #max: number;

  #sent = 0;
  /** Records refused because close() had begun; the queue counts its own drops. */
  #refused = 0;
  #errors = 0;
  #lastError: string | undefined;

  readonly #queue: RecordQueue;

  #address: { ip: string; family: 4 | 6; expires: number } | undefined;
  #resolving = false;
  readonly #retry = new Retry();

  readonly #udp: UdpSender;

  readonly #tcp: TcpConnection;

  #closing: Promise<void> | undefined;
  /** Set while close() waits: called whenever progress was made or a transport gave up. */
  #onProgress: (() => void) | undefined;

  constructor(opts: SyslogSinkOptions) {
    const f = opts.facility;
    if (!Number.isInteger(f) || f < 0 || f > 23)
      throw new TrunklineError(ErrorCodes.SYSLOG_INVALID, `syslog facility ${f} is not 0-23`);
    const t = opts.target;
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535)
      throw new TrunklineError(ErrorCodes.SYSLOG_INVALID, `syslog port ${t.port} is not 1-65535`);
    if (t.host === "") throw new TrunklineError(ErrorCodes.SYSLOG_INVALID, "syslog host is empty");
    const q = opts.maxQueue ?? DEFAULT_QUEUE;
    const qb = opts.maxQueueBytes ?? DEFAULT_QUEUE_BYTES;
    if (!Number.isInteger(q) || q < 1)
      throw new TrunklineError(ErrorCodes.SYSLOG_INVALID, `maxQueue ${q} must be a positive integer`);
    if (!Number.isInteger(qb) || qb < 1)
      throw new TrunklineError(ErrorCodes.SYSLOG_INVALID, `maxQueueBytes ${qb} must be a positive integer`);
    this.target = { transport: t.transport, host: t.host, port: t.port };
    this.facility = f;
    this.#appName = opts.appName;
    this.#hostname = opts.hostname ?? hostname();
    this.#queue = new RecordQueue(q, qb);
    this.#max = t.transport === "udp" ? UDP_MAX : TCP_MAX;
    // Only the target's transport is ever used; the other stays idle and never opens a socket.
    const host = {
      closing: () => this.#closing !== undefined,
      fail: (err: unknown) => this.#fail(err),
      sent: () => {
        this.#sent++;
      },
      pump: () => this.#pump(),
    };
    this.#udp = new UdpSender(host, t.port);
    this.#tcp = new TcpConnection({ ...host, closed: (stable) => this.#tcpClosed(stable) }, this.target);
  }

  stats(): SyslogStats {
    return {
      sent: this.#sent,
      dropped: this.#refused + this.#queue.dropped,
      errors: this.#errors,
      queued: this.#queue.length,
      queuedBytes: this.#queue.bytes,
      lastError: this.#lastError,
    };
  }

  /** Queues one record; never throws, never waits. `msgId` fills the MSGID field. */
  write(severity: number, message: string, msgId?: string): void {
    if (this.#closing) {
      this.#refused++;
      return;
    }
    try {
      const sev = Number.isFinite(severity) ? Math.min(7, Math.max(0, Math.trunc(severity))) : 6;
      const format = (text: string) =>
        formatRfc5424({
          facility: this.facility,
          severity: sev,
          timestamp: new Date(),
          hostname: this.#hostname,
          appName: this.#appName,
          procId: this.#procId,
          ...(msgId !== undefined ? { msgId } : {}),
          message: text,
        });
      let msg = format(message);
      const over = Buffer.byteLength(msg) - this.#max;
      if (over > 0 && message.startsWith("{")) {
        // A caller's long request must not cut the record's outcome off: its long strings are
        // shortened instead, and the record stays whole JSON.
        const fitted = fitJson(message, Buffer.byteLength(message) - over);
        if (fitted !== undefined) msg = format(fitted);
      }
      const cut = truncateUtf8(msg, this.#max);
      this.#queue.push(this.target.transport === "tcp" ? frameOctetCounting(cut) : cut);
      this.#pump();
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    this.#errors++;
    this.#lastError = errorMessage(err);
  }

  /** Moves queued records to the transport as far as it can take them now. */
  #pump(): void {
    if (this.#queue.length > 0) {
      const addr = this.#currentAddress();
      if (addr) {
        if (this.target.transport === "udp") this.#udp.send(this.#queue, addr);
        else this.#tcp.send(this.#queue, addr, !this.#retry.pending);
      }
    }
    this.#onProgress?.();
  }

  /** The resolved address, stale if a refresh is under way; undefined while there is none. */
  #currentAddress(): { ip: string; family: 4 | 6 } | undefined {
    const a = this.#address;
    if (a === undefined || a.expires <= Date.now()) this.#resolve();
    return this.#address;
  }

  #resolve(): void {
    if (this.#resolving || this.#retry.pending) return;
    const host = this.target.host;
    const literal = isIP(host);
    if (literal !== 0) {
      this.#address = { ip: host, family: literal === 6 ? 6 : 4, expires: Number.POSITIVE_INFINITY };
      return;
    }
    this.#resolving = true;
    lookup(host, (err, ip, family) => {
      this.#resolving = false;
      if (err) {
        this.#fail(err);
        // With a stale address the sink keeps going; without one it retries later.
        if (!this.#address) this.#scheduleRetry();
        this.#onProgress?.();
        return;
      }
      this.#address = { ip, family: family === 6 ? 6 : 4, expires: Date.now() + RESOLVE_TTL_MS };
      // For TCP the backoff is the connection's, reset once one holds.
      if (this.target.transport === "udp") this.#retry.reset();
      this.#pump();
    });
  }

  #scheduleRetry(): void {
    if (this.#closing) return;
    this.#retry.schedule(() => this.#pump());
  }

  #tcpClosed(stable: boolean): void {
    if (stable) this.#retry.reset();
    // Reconnect only for records that wait; otherwise the next write() connects.
    if (this.#queue.length > 0) this.#scheduleRetry();
    this.#onProgress?.();
  }

  /**
   * Stops taking records and flushes what it can within `timeoutMs` (default 1 s): the
   * queue, then a clean TCP close. Whatever is left then is dropped and counted. Never
   * rejects; repeated calls share the same promise.
   */
  close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      this.#retry.cancel();
      // Hold the process open for the bounded flush only.
      this.#tcp.ref();
      this.#udp.ref();
      let done = false;
      let ending = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#onProgress = undefined;
        this.#queue.dropAll();
        this.#tcp.destroy();
        this.#udp.close();
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      // Within close, one failed attempt (DNS, connect) means the server is not there:
      // nothing retries, so give up at once rather than at the deadline.
      this.#onProgress = () => {
        if (this.target.transport === "udp") {
          if (this.#queue.length === 0 && this.#udp.inFlight === 0) finish();
          else if (!this.#address && !this.#resolving) finish();
          return;
        }
        if (!this.#tcp.open) {
          if (!this.#resolving) finish();
          return;
        }
        if (this.#tcp.writable && this.#queue.length === 0 && !ending) {
          ending = true;
          // 'finish': everything was handed to the kernel, which still delivers it after we close.
          this.#tcp.end(finish);
        }
      };
      this.#pump();
    });
    return this.#closing;
  }
}
