import type { Socket } from "node:net";
import { attempt } from "../../balance/attempt.ts";
import type { PoolMember } from "../../balance/pool.ts";
import type { ListenerConfig, PoolConfig, TlsClientConfig } from "../../config/types.ts";
import type { HostPort } from "../../core/address.ts";
import { type ErrorCode, ErrorCodes, errorCode, errorMessage } from "../../core/errors.ts";
import type { EventBus } from "../../events/bus.ts";
import type { FailedTry, TrunklineEvents } from "../../events/types.ts";
import { type CancelToken, cancel } from "../../net/connect.ts";
import type { Accepted } from "../../net/stream-listener.ts";
import { HeaderReader, parseHeader } from "./header.ts";
import { type AgiRequest, fullUrl, splitAgiUrl } from "./request.ts";
import { upstreamHeader } from "./rewrite.ts";
import type { RouteDecision } from "./router.ts";
import type { FastAgiListenerOptions, RouteTarget } from "./types.ts";

/** What a session needs of a pool (style.md practice 2): the attempt loop's pool and its hash key. */
export interface SessionPool {
  readonly name: string;
  readonly config: Pick<PoolConfig, "hashKeyOf">;
  readonly connectTimeoutMs: number;
  readonly totalTimeoutMs: number;
  acquire(hashKey: string, tried: ReadonlySet<PoolMember>, now?: number): PoolMember | undefined;
  release(server: PoolMember): void;
  report(server: PoolMember, outcome: { ok: true } | { ok: false; reason: string }, now?: number): void;
}

export type Outcome =
  | "completed"
  | "hangup_grace"
  | "failure_no_server"
  | "failure_no_route"
  | "failure_route_error"
  | "bad_header"
  | "header_timeout"
  | "client_gone"
  | "upstream_error"
  | "client_error"
  | "line_too_long"
  | "closed";

/** The stable code logged with each outcome's error (README "Error codes"). */
const OUTCOME_CODES: Readonly<Record<Outcome, ErrorCode | undefined>> = {
  completed: undefined,
  hangup_grace: ErrorCodes.HANGUP_GRACE,
  failure_no_server: ErrorCodes.NO_SERVER,
  failure_no_route: ErrorCodes.NO_ROUTE,
  failure_route_error: ErrorCodes.ROUTE_SCRIPT,
  bad_header: ErrorCodes.HEADER_INVALID,
  header_timeout: ErrorCodes.HEADER_TIMEOUT,
  client_gone: ErrorCodes.CLIENT_GONE,
  upstream_error: ErrorCodes.UPSTREAM_GONE,
  client_error: ErrorCodes.CLIENT_GONE,
  line_too_long: ErrorCodes.LINE_TOO_LONG,
  closed: ErrorCodes.SHUTDOWN,
};

export interface SessionEnv {
  readonly listener: ListenerConfig;
  readonly options: FastAgiListenerOptions;
  readonly events: EventBus<TrunklineEvents>;
  decide(request: AgiRequest): Promise<RouteDecision>;
  pool(name: string): SessionPool | undefined;
  connect(
    address: HostPort,
    tls: TlsClientConfig | undefined,
    timeoutMs: number,
    token: CancelToken,
  ): Promise<Socket>;
}

/** A line longer than this from an upstream is not AGI (Asterisk's own buffer is 2 KiB). */
const MAX_UPSTREAM_LINE = 64 * 1024;
/** Bytes from Asterisk held while the upstream connect is in progress. */
const MAX_PENDING = 64 * 1024;
/** After one side has closed, how long the other may take to flush and close. */
const LINGER_MS = 5_000;
const FAILURE = Buffer.from("FAILURE\n");
/** A `to:` target has no pool settings: the same connect bound as a pool's default. */
const TARGET_CONNECT_TIMEOUT_MS = 1_000;

/**
 * One FastAGI session: read the header, route, connect (with failover), then relay both
 * ways. Toward Asterisk only whole lines are written, so a fragmenting upstream cannot make
 * the channel thread spin (it busy-loops on a partial line: res_agi.c agi_handle_command
 * reads with ast_agi_fdprintf's counterpart get_agi_line). Every path out goes through finish().
 */
export class FastAgiSession {
  readonly #client: Socket;
  readonly #conn: Accepted;
  readonly #env: SessionEnv;
  readonly #started = Date.now();
  #connectedAt: number | undefined;
  readonly #peer: string;
  #upstream: Socket | undefined;
  /** The server this session holds a slot on (pool sessions), or its target's name. */
  #member: PoolMember | undefined;
  #serverName: string | undefined;
  #pool: SessionPool | undefined;
  #poolName: string | undefined;
  #route: string | undefined;
  #request: string | undefined;
  #upstreamRequest: string | undefined;
  #attempts: readonly FailedTry[] = [];
  #bytesIn = 0;
  #bytesOut = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #finished = false;
  #outcome: Outcome | undefined;
  #error: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #clientClosed = false;
  #upstreamClosed = false;
  #partial: Buffer | undefined;
  #hangupSeen = false;
  #hangupScan = "";
  readonly #cancel: CancelToken = { cancelled: false, onCancel: undefined };
  #lingering = false;
  /** Set where the outcome alone does not tell the code (which header limit, which route error). */
  #errorCode: ErrorCode | undefined;

  constructor(conn: Accepted, env: SessionEnv) {
    this.#conn = conn;
    this.#client = conn.socket;
    this.#env = env;
    this.#peer = `${this.#client.remoteAddress ?? "?"}:${this.#client.remotePort ?? "?"}`;
  }

  get peer(): string {
    return this.#peer;
  }

  /** True once the header has been answered or relayed: a drain waits for these. */
  get finished(): boolean {
    return this.#finished;
  }

  start(): void {
    const client = this.#client;
    // TCP_NODELAY is set by the listener at accept (createServer({ noDelay: true })).
    const reader = new HeaderReader();
    if (this.#env.events.has("session.start"))
      this.#env.events.emit("session.start", {
        protocol: "fastagi",
        listener: this.#env.listener.name,
        client: this.#peer,
      });
    const headerTimer = this.#timer(this.#env.options.headerTimeoutMs, () => {
      this.#reject(
        "header_timeout",
        `no complete header within ${this.#env.options.headerTimeoutMs}ms (${reader.received} bytes received)`,
      );
    });
    const onData = (chunk: Buffer) => {
      this.#bytesIn += chunk.length;
      const r = reader.push(chunk);
      if ("error" in r) {
        client.removeListener("data", onData);
        clearTimeout(headerTimer);
        this.#reject(
          "bad_header",
          r.error.message,
          r.error.code === "invalid" ? ErrorCodes.HEADER_INVALID : ErrorCodes.HEADER_TOO_LONG,
        );
        return;
      }
      if (!r.done) return;
      client.removeListener("data", onData);
      clearTimeout(headerTimer);
      this.#conn.established();
      if (r.rest.length > 0) this.#hold(r.rest);
      void this.#route_(r.header);
    };
    client.on("data", onData);
    client.on("error", (err) => this.#clientGone("client_error", err));
    client.on("close", () => {
      this.#clientClosed = true;
      if (!this.#upstream) {
        cancel(this.#cancel);
        this.#finish(this.#outcome ?? "client_gone", this.#error);
      } else this.#maybeFinish();
    });
  }

  #timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    this.#timers.push(t);
    return t;
  }

  /** Bytes from Asterisk that arrive before the upstream is ready (an early HANGUP) are kept. */
  #hold(chunk: Buffer): void {
    this.#scanHangup(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > MAX_PENDING) {
      this.#clientGone("client_error", new Error("client sent too much before the upstream was ready"));
      return;
    }
    this.#pending.push(chunk);
  }

  #clientGone(outcome: Outcome, err: Error): void {
    this.#error ??= err.message;
    this.#outcome ??= outcome;
    this.#client.destroy();
    this.#upstream?.destroy();
    cancel(this.#cancel);
  }

  /** Answers FAILURE (AGISTATUS=FAILURE in the dialplan) and closes: nothing could serve it. */
  #reject(outcome: Outcome, message: string, code?: ErrorCode): void {
    this.#errorCode = code;
    this.#outcome = outcome;
    this.#error = message;
    const c = this.#client;
    if (!c.destroyed && c.writable) {
      c.end(FAILURE);
      this.#bytesOut += FAILURE.length;
      // Asterisk closes after FAILURE; a peer that does not is not kept around.
      this.#timer(LINGER_MS, () => c.destroy());
      c.resume();
    } else {
      c.destroy();
    }
  }

  async #route_(raw: Buffer): Promise<void> {
    const header = parseHeader(raw);
    if ("code" in header) return this.#reject("bad_header", header.message);
    this.#request = header.request;
    const parts = splitAgiUrl(header.request);
    if (!parts)
      return this.#reject(
        "bad_header",
        `agi_request is not a URL: ${JSON.stringify(header.request.slice(0, 200))}`,
      );
    const request: AgiRequest = {
      origin: parts.origin,
      path: parts.path,
      query: parts.query,
      vars: header.vars,
    };
    // Keep reading what Asterisk sends while we route and connect.
    const onEarly = (chunk: Buffer) => {
      this.#bytesIn += chunk.length;
      this.#hold(chunk);
    };
    this.#client.on("data", onEarly);
    let decision: RouteDecision;
    try {
      decision = await this.#env.decide(request);
    } catch (err) {
      decision = { kind: "error", route: undefined, message: errorMessage(err), hops: 0 };
    }
    if (this.#clientClosed || this.#client.destroyed)
      return this.#finish(this.#outcome ?? "client_gone", this.#error);
    if (decision.kind === "none") return this.#reject("failure_no_route", "no route matches");
    if (decision.kind === "error") {
      this.#route = decision.route?.name;
      return this.#reject(
        "failure_route_error",
        decision.message,
        decision.reinjectLoop ? ErrorCodes.REINJECT_LOOP : ErrorCodes.ROUTE_SCRIPT,
      );
    }
    this.#route = decision.route.name;
    const final = decision.request;
    this.#upstreamRequest = fullUrl(final);
    const fwd = this.#env.options.forwardedFor ? (this.#client.remoteAddress ?? "unknown") : undefined;
    const headerOut = upstreamHeader(header, raw, parts, final, fwd);
    const upstream =
      decision.kind === "pool"
        ? await this.#connectPool(decision.pool, final)
        : await this.#connectTarget(decision.target);
    this.#client.removeListener("data", onEarly);
    if (!upstream) {
      if (this.#clientClosed || this.#client.destroyed)
        return this.#finish(this.#outcome ?? "client_gone", this.#error);
      return this.#reject(
        "failure_no_server",
        this.#attempts.length === 0 ? "no server can take the session" : "every server failed",
      );
    }
    if (this.#clientClosed || this.#client.destroyed) {
      upstream.destroy();
      return this.#finish(this.#outcome ?? "client_gone", this.#error);
    }
    this.#relay(upstream, headerOut);
  }

  async #connectPool(name: string, final: AgiRequest): Promise<Socket | undefined> {
    const pool = this.#env.pool(name);
    this.#poolName = name;
    if (!pool) return undefined;
    this.#pool = pool;
    const env = this.#env;
    const r = await attempt<PoolMember, Socket>(pool, pool.config.hashKeyOf(final.vars), {
      what: "connect",
      tryOne: (m, timeoutMs) => env.connect(m.config.address, m.config.tls, timeoutMs, this.#cancel),
      discard: (sock) => sock.destroy(),
      cancelled: () => this.#cancel.cancelled || this.#finished,
      name: (m) => m.key,
      onFailure: (m, error) => {
        if (env.events.has("attempt.failed"))
          env.events.emit("attempt.failed", {
            protocol: "fastagi",
            listener: env.listener.name,
            pool: name,
            server: m.key,
            error,
          });
      },
    });
    this.#attempts = r.failures;
    if (!r.ok) return undefined;
    this.#member = r.server;
    this.#serverName = r.server.key;
    this.#connectedAt = Date.now();
    return r.result;
  }

  async #connectTarget(target: RouteTarget): Promise<Socket | undefined> {
    try {
      const sock = await this.#env.connect(
        target.address,
        target.tls,
        TARGET_CONNECT_TIMEOUT_MS,
        this.#cancel,
      );
      if (this.#finished) {
        sock.destroy();
        return undefined;
      }
      this.#serverName = target.authority;
      this.#connectedAt = Date.now();
      return sock;
    } catch (err) {
      this.#attempts = [
        {
          server: target.authority,
          error: errorMessage(err),
          code: errorCode(err, ErrorCodes.CONNECT_FAILED),
        },
      ];
      return undefined;
    }
  }

  #relay(upstream: Socket, headerOut: Buffer): void {
    this.#upstream = upstream;
    const client = this.#client;
    // One write for the header and what Asterisk sent meanwhile: one syscall, one segment.
    upstream.write(this.#pending.length === 0 ? headerOut : Buffer.concat([headerOut, ...this.#pending]));
    this.#pending = [];
    this.#pendingBytes = 0;

    client.on("data", (chunk: Buffer) => {
      this.#bytesIn += chunk.length;
      this.#scanHangup(chunk);
      if (!upstream.destroyed && !upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    client.on("drain", () => upstream.resume());
    client.on("end", () => {
      if (!upstream.destroyed) upstream.end();
      this.#linger();
    });
    upstream.on("data", (chunk: Buffer) => this.#fromUpstream(chunk));
    upstream.on("end", () => {
      this.#outcome ??= "completed";
      // The upstream is done: what is left of a last unterminated line still belongs to Asterisk.
      if (this.#partial && !client.destroyed) {
        this.#bytesOut += this.#partial.length;
        client.write(this.#partial);
        this.#partial = undefined;
      }
      if (!client.destroyed) client.end();
      this.#linger();
    });
    upstream.on("error", (err) => {
      this.#outcome ??= "upstream_error";
      this.#error ??= err.message;
      upstream.destroy();
      client.destroy();
    });
    upstream.on("close", () => {
      this.#upstreamClosed = true;
      if (!client.destroyed && !client.writableEnded) client.end();
      this.#linger();
      this.#maybeFinish();
    });
    if (this.#hangupSeen) this.#startGrace();
    client.resume();
  }

  /** Forward only whole lines toward Asterisk; hold the tail until its newline arrives. */
  #fromUpstream(chunk: Buffer): void {
    const client = this.#client;
    let data = this.#partial ? Buffer.concat([this.#partial, chunk]) : chunk;
    const last = data.lastIndexOf(0x0a);
    if (last < 0) {
      this.#partial = data;
      if (data.length > MAX_UPSTREAM_LINE) this.#lineTooLong();
      return;
    }
    if (last + 1 < data.length) {
      this.#partial = data.subarray(last + 1);
      data = data.subarray(0, last + 1);
      if (this.#partial.length > MAX_UPSTREAM_LINE) {
        this.#lineTooLong();
        return;
      }
    } else this.#partial = undefined;
    if (client.destroyed) return;
    this.#bytesOut += data.length;
    if (!client.write(data)) this.#upstream?.pause();
  }

  #lineTooLong(): void {
    this.#outcome = "line_too_long";
    this.#error = `upstream sent a line longer than ${MAX_UPSTREAM_LINE} bytes`;
    this.#upstream?.destroy();
    this.#client.destroy();
  }

  /** Watches Asterisk's bytes for its unprompted `HANGUP` line (channel hung up). */
  #scanHangup(chunk: Buffer): void {
    if (this.#hangupSeen) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      // Only the first 8 bytes of a line matter: "HANGUP" or "HANGUP\r".
      if (this.#hangupScan.length <= 8)
        this.#hangupScan += chunk.toString("latin1", start, Math.min(end, start + 9));
      if (nl < 0) return;
      const line = this.#hangupScan.endsWith("\r") ? this.#hangupScan.slice(0, -1) : this.#hangupScan;
      this.#hangupScan = "";
      if (line === "HANGUP") {
        this.#hangupSeen = true;
        if (this.#upstream) this.#startGrace();
        return;
      }
      start = nl + 1;
    }
  }

  #startGrace(): void {
    const ms = this.#env.options.hangupGraceMs;
    this.#timer(ms, () => {
      if (this.#finished) return;
      this.#outcome = "hangup_grace";
      this.#error = `upstream still open ${ms}ms after Asterisk's HANGUP`;
      this.#upstream?.destroy();
      this.#client.destroy();
    });
  }

  #linger(): void {
    if (this.#lingering) return;
    this.#lingering = true;
    this.#timer(LINGER_MS, () => {
      this.#upstream?.destroy();
      this.#client.destroy();
    });
  }

  #maybeFinish(): void {
    if (this.#clientClosed && (this.#upstreamClosed || !this.#upstream))
      this.#finish(this.#outcome ?? "completed", this.#error);
    else if (
      this.#clientClosed &&
      this.#upstream &&
      !this.#upstream.destroyed &&
      !this.#upstream.writableEnded
    ) {
      // Asterisk is gone: let the server see the close, and do not wait on it forever.
      this.#upstream.end();
      this.#linger();
    }
  }

  /** Ends the session now (shutdown deadline passed). */
  destroy(reason: string): void {
    this.#outcome ??= "closed";
    this.#error ??= reason;
    cancel(this.#cancel);
    this.#upstream?.destroy();
    this.#client.destroy();
  }

  #finish(outcome: Outcome, error: string | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#upstream?.destroy();
    this.#client.destroy();
    if (this.#member && this.#pool) this.#pool.release(this.#member);
    this.#conn.finished();
    if (!this.#env.events.has("session.end")) return;
    this.#env.events.emit("session.end", {
      protocol: "fastagi",
      client: this.#peer,
      listener: this.#env.listener.name,
      request: this.#request,
      upstreamRequest: this.#upstreamRequest !== this.#request ? this.#upstreamRequest : undefined,
      route: this.#route,
      pool: this.#poolName,
      server: this.#serverName,
      attempts: this.#attempts,
      durationMs: Date.now() - this.#started,
      setupMs: this.#connectedAt === undefined ? undefined : this.#connectedAt - this.#started,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      outcome,
      ok: outcome === "completed",
      error,
      errorCode: error === undefined ? undefined : (this.#errorCode ?? OUTCOME_CODES[outcome]),
    });
  }
}
