import { connect, type Socket } from "node:net";
import { EventBus } from "../../events/bus.ts";
import { type BackoffOptions, backoffDelay, ESL_BACKOFF } from "./backoff.ts";
import { type EslFrame, EslFrameReader, type EslLimits, parseEventPlain } from "./frame.ts";
import { type EslHeartbeatReport, parseHeartbeat } from "./heartbeat.ts";

/** Why a connection (or an attempt at one) ended. */
export type EslDownReason =
  | "connect_failed"
  | "connect_timeout"
  | "auth_timeout"
  | "auth_rejected"
  | "subscribe_rejected"
  | "rude_rejection"
  | "disconnect_notice"
  | "protocol_error"
  | "silent"
  | "closed";

export interface EslClientEvents {
  /** Authenticated and subscribed to HEARTBEAT. */
  up: { host: string; port: number };
  /** After every failed attempt or lost connection; `retryInMs` is when the next attempt starts. */
  down: { reason: EslDownReason; message: string; wasUp: boolean; retryInMs: number };
  heartbeat: EslHeartbeatReport;
  /** No heartbeat within heartbeatTimeoutMs: the server is alive on TCP but says nothing. */
  silent: { timeoutMs: number; lastHeartbeatAt: number | undefined };
  /** Something odd that does not end the connection (a heartbeat without load figures). */
  warning: { message: string };
}

/** The timer functions the client uses; tests pass their own to control time. */
export interface EslTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers, unref'd: a retry or watchdog timer alone must not keep the process alive. */
const REAL_TIMERS: EslTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface EslClientOptions {
  host: string;
  port: number;
  password: string;
  /** TCP connect (default 2 s). */
  connectTimeoutMs?: number;
  /** From connected to subscribed: auth request, auth reply, subscribe reply (default 5 s). */
  authTimeoutMs?: number;
  /** No heartbeat for this long while up → silent, reconnect (default 3 × 20 s: 2–3 missed beats). */
  heartbeatTimeoutMs?: number;
  backoff?: BackoffOptions;
  limits?: Partial<EslLimits>;
  timers?: EslTimers;
  now?: () => number;
}

export type EslClientState =
  | "idle"
  | "connecting"
  /** Connected, waiting for `auth/request`. */
  | "authenticating"
  /** `auth` sent, waiting for its reply. */
  | "authorizing"
  | "subscribing"
  | "up"
  /** Between a failure and the next attempt. */
  | "waiting"
  | "closed";

/**
 * One inbound event-socket connection to one FreeSWITCH, kept up for as long as the client
 * runs: connect, authenticate, subscribe to HEARTBEAT, report each heartbeat's load figures.
 * Every state is bounded in time (connect, auth and heartbeat timers); every way a
 * connection ends is one `down` event with a reason, then a reconnect after a backoff that
 * grows with each failure and starts over once a password is accepted.
 */
export class EslClient {
  readonly #o: Required<Omit<EslClientOptions, "limits">> & { limits: Partial<EslLimits> };
  readonly #events = new EventBus<EslClientEvents>();
  #state: EslClientState = "idle";
  #socket: Socket | undefined;
  #timer: unknown;
  #watchdog: unknown;
  #failures = 0;
  #wasUp = false;
  #lastHeartbeatAt: number | undefined;
  #lastReport: EslHeartbeatReport | undefined;

  constructor(options: EslClientOptions) {
    // A line break in the password would end the auth command early and inject another.
    if (/[\r\n]/.test(options.password)) throw new Error("ESL password must not contain CR or LF");
    this.#o = {
      connectTimeoutMs: 2000,
      authTimeoutMs: 5000,
      heartbeatTimeoutMs: 60_000,
      backoff: ESL_BACKOFF,
      timers: REAL_TIMERS,
      now: Date.now,
      ...options,
      limits: options.limits ?? {},
    };
  }

  on<K extends keyof EslClientEvents>(name: K, fn: (payload: EslClientEvents[K]) => void): () => void {
    return this.#events.on(name, fn);
  }

  get state(): EslClientState {
    return this.#state;
  }

  /** The last heartbeat's figures (kept across reconnects: the caller judges their age by `at`). */
  get lastReport(): EslHeartbeatReport | undefined {
    return this.#lastReport;
  }

  start(): void {
    if (this.#state !== "idle") return;
    this.#connect();
  }

  /** Stops for good: timers cleared, socket destroyed, no reconnect, no more events. */
  close(): void {
    this.#state = "closed";
    this.#clearTimers();
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connect(): void {
    if (this.#state === "closed") return;
    this.#state = "connecting";
    this.#wasUp = false;
    const reader = new EslFrameReader(this.#o.limits);
    const sock = connect({ host: this.#o.host, port: this.#o.port });
    this.#socket = sock;
    sock.setNoDelay(true);
    this.#arm(
      this.#o.connectTimeoutMs,
      "connect_timeout",
      `no connection within ${this.#o.connectTimeoutMs}ms`,
    );
    sock.once("connect", () => {
      if (this.#socket !== sock) return;
      this.#state = "authenticating";
      this.#arm(this.#o.authTimeoutMs, "auth_timeout", `not subscribed within ${this.#o.authTimeoutMs}ms`);
    });
    sock.on("data", (chunk: Buffer) => {
      if (this.#socket !== sock) return;
      const r = reader.push(chunk);
      for (const f of r.frames) {
        this.#frame(f);
        if (this.#socket !== sock) return;
      }
      if (r.error) this.#fail("protocol_error", `${r.error.code}: ${r.error.message}`);
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (this.#socket !== sock) return;
      const connecting = this.#state === "connecting";
      this.#fail(connecting ? "connect_failed" : "closed", err.code ?? err.message);
    });
    sock.on("close", () => {
      if (this.#socket === sock) this.#fail("closed", "FreeSWITCH closed the connection");
    });
  }

  /** One frame from FreeSWITCH, read according to where the handshake stands. */
  #frame(f: EslFrame): void {
    const type = f.headers.get("Content-Type") ?? "";
    const bodyText = (fallback: string) => f.body?.toString("utf8").trim().slice(0, 200) || fallback;
    if (type === "text/rude-rejection") {
      this.#fail("rude_rejection", bodyText("rejected by the event socket ACL"));
      return;
    }
    if (type === "text/disconnect-notice") {
      this.#fail("disconnect_notice", bodyText("FreeSWITCH is disconnecting"));
      return;
    }
    const sock = this.#socket!;
    const reply = f.headers.get("Reply-Text") ?? "";
    if (this.#state === "authenticating") {
      if (type !== "auth/request") {
        this.#fail("protocol_error", `expected auth/request, got ${JSON.stringify(type)}`);
      } else {
        sock.write(`auth ${this.#o.password}\n\n`);
        this.#state = "authorizing";
      }
    } else if (this.#state === "authorizing" && type === "command/reply") {
      // FreeSWITCH answers a wrong password with `-ERR invalid`, then closes.
      if (!reply.startsWith("+OK")) {
        this.#fail("auth_rejected", reply || "auth refused");
      } else {
        sock.write("event plain HEARTBEAT\n\n");
        this.#state = "subscribing";
      }
    } else if (this.#state === "subscribing" && type === "command/reply") {
      if (!reply.startsWith("+OK")) this.#fail("subscribe_rejected", reply || "subscription refused");
      else this.#up();
    } else if (this.#state === "up" && type === "text/event-plain" && f.body) {
      // Only once authenticated and subscribed: what comes before is no load report.
      this.#event(f.body);
    }
    // Anything else (api/response, log/data, a late command/reply) says nothing about load.
  }

  #up(): void {
    this.#state = "up";
    this.#wasUp = true;
    this.#clearTimer();
    this.#armWatchdog();
    this.#events.emit("up", { host: this.#o.host, port: this.#o.port });
  }

  #event(body: Buffer): void {
    const headers = parseEventPlain(body);
    if (headers.get("Event-Name") !== "HEARTBEAT") return;
    const at = this.#o.now();
    this.#lastHeartbeatAt = at;
    // Any heartbeat proves the server alive, even one whose figures we cannot read.
    if (this.#state === "up") this.#armWatchdog();
    const r = parseHeartbeat(headers, at);
    if (!r.ok) {
      this.#events.emit("warning", { message: r.reason });
      return;
    }
    this.#lastReport = r.report;
    // A real heartbeat, not only an accepted password, starts the reconnect backoff over: a
    // peer that accepts and then drops the connection is retried ever more slowly.
    this.#failures = 0;
    this.#events.emit("heartbeat", r.report);
  }

  #armWatchdog(): void {
    const t = this.#o.timers;
    if (this.#watchdog !== undefined) t.clearTimeout(this.#watchdog);
    const ms = this.#o.heartbeatTimeoutMs;
    this.#watchdog = t.setTimeout(() => {
      this.#watchdog = undefined;
      this.#events.emit("silent", { timeoutMs: ms, lastHeartbeatAt: this.#lastHeartbeatAt });
      this.#fail("silent", `no heartbeat within ${ms}ms`);
    }, ms);
  }

  /** The one pending stage timer (connect, then auth) fails the attempt when it fires. */
  #arm(ms: number, reason: EslDownReason, message: string): void {
    this.#clearTimer();
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#fail(reason, message);
    }, ms);
  }

  #fail(reason: EslDownReason, message: string): void {
    if (this.#state === "closed" || this.#state === "waiting") return;
    this.#clearTimers();
    this.#socket?.destroy();
    this.#socket = undefined;
    const retryInMs = backoffDelay(this.#failures, this.#o.backoff);
    this.#failures++;
    this.#state = "waiting";
    this.#events.emit("down", { reason, message, wasUp: this.#wasUp, retryInMs });
    if (this.#state !== "waiting") return; // a listener closed the client
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, retryInMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #clearTimers(): void {
    this.#clearTimer();
    if (this.#watchdog !== undefined) this.#o.timers.clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }
}
