import type { Socket } from "node:net";
import { type ErrorCode, ErrorCodes, errorMessage } from "../../core/errors.ts";
import { type CancelToken, cancel } from "../../net/connect.ts";
import type { Accepted } from "../../net/stream-listener.ts";
import { HeaderReader, parseHeader } from "./header.ts";
import { AsteriskLines, LINE_TOO_LONG, MAX_UPSTREAM_LINE, UpstreamLines, unsettled } from "./lines.ts";
import { OUTCOME_CODES, type Outcome, peerGone } from "./outcomes.ts";
import { type AgiRequest, fullUrl, splitAgiUrl } from "./request.ts";
import { upstreamHeader } from "./rewrite.ts";
import type { RouteDecision } from "./router.ts";
import type { SessionEnv } from "./session-env.ts";
import { UpstreamLeg } from "./upstream.ts";

/** After one side has closed (FIN, reset), how long the other may take to flush and close. */
const LINGER_MS = 5_000;
const FAILURE = Buffer.from("FAILURE\n");

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
  readonly #peer: string;
  #upstream: Socket | undefined;
  /** Where the session was sent, the tries that failed, and the pool slot it holds. */
  readonly #leg: UpstreamLeg;
  #route: string | undefined;
  #request: string | undefined;
  #upstreamRequest: string | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #finished = false;
  #outcome: Outcome | undefined;
  #error: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #clientClosed = false;
  #upstreamClosed = false;
  /** Asterisk's lines (HANGUP, replies), read from its first byte after the header. */
  readonly #asterisk = new AsteriskLines();
  /** The server's lines (whole lines toward Asterisk, commands), once the relay runs. */
  readonly #lines = new UpstreamLines();
  /** Which side closed or reset first, once the relay runs. */
  #firstGone: "client" | "upstream" | undefined;
  /** Set at the upstream's close when a command had no reply (and Asterisk said no HANGUP). */
  #unsettled: string | undefined;
  /** The socket error behind a `*_gone` outcome, for the log. */
  #peerError: string | undefined;
  /** Per direction, since when the proxy holds bytes that its peer does not take (0: none). */
  readonly #stall = {
    client: { since: 0, held: 0 },
    upstream: { since: 0, held: 0 },
  };
  #stallTimer: NodeJS.Timeout | undefined;
  readonly #cancel: CancelToken = { cancelled: false, onCancel: undefined };
  #lingering = false;
  /** Set where the outcome alone does not tell the code (which header limit, which route error). */
  #errorCode: ErrorCode | undefined;

  constructor(conn: Accepted, env: SessionEnv) {
    this.#conn = conn;
    this.#client = conn.socket;
    this.#env = env;
    this.#peer = `${this.#client.remoteAddress ?? "?"}:${this.#client.remotePort ?? "?"}`;
    this.#leg = new UpstreamLeg(env, this.#cancel);
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
    client.on("end", () => {
      // The listener keeps sockets half-open (a FIN from the server must not end Asterisk's
      // side). Before the relay runs, Asterisk closing its side means it is gone: close ours.
      if (!this.#upstream) client.destroy();
    });
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
    this.#asterisk.scan(chunk);
    if (!this.#leg.hold(chunk))
      this.#clientGone("client_error", new Error("client sent too much before the upstream was ready"));
  }

  /** Asterisk's socket failed: a reset means Asterisk left; any other fault (TLS) is an error of its own. */
  #clientGone(outcome: Outcome, err: Error): void {
    if (this.#upstream) {
      this.#firstGone ??= "client";
      this.#peerError ??= `Asterisk: ${err.message}`;
      if (!peerGone(err)) this.#outcome ??= outcome;
      // 'close' follows: #maybeFinish lets the server take what is left, then closes it.
      this.#client.destroy();
      return;
    }
    this.#error ??= err.message;
    this.#outcome ??= peerGone(err) ? "client_gone" : outcome;
    this.#client.destroy();
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
        ? await this.#leg.viaPool(decision.pool, final)
        : await this.#leg.viaTarget(decision.target);
    this.#client.removeListener("data", onEarly);
    if (!upstream) {
      if (this.#clientClosed || this.#client.destroyed)
        return this.#finish(this.#outcome ?? "client_gone", this.#error);
      return this.#reject(
        "failure_no_server",
        this.#leg.attempts.length === 0 ? "no server can take the session" : "every server failed",
      );
    }
    if (this.#clientClosed || this.#client.destroyed) {
      upstream.destroy();
      return this.#finish(this.#outcome ?? "client_gone", this.#error);
    }
    this.#relay(upstream, headerOut);
  }

  /**
   * Relays both ways as a TCP proxy does, half-closes included (both sockets are half-open:
   * listener.ts, connect.ts): a FIN from one side ends the other side's writing once what is
   * pending toward it has been written, and the open direction keeps flowing. Asterisk sends
   * its final `HANGUP` after the server's FIN (res_agi.c), and the server must get it.
   * Every state is bounded in time, as HAProxy's `timeout client`/`timeout server` bound a
   * TCP proxy: after a FIN or a reset by LINGER_MS, after Asterisk's HANGUP by hangup_grace,
   * and bytes a peer does not take by stall_timeout. A quiet session (Asterisk playing a long
   * prompt) holds no bytes and is never ended by a timer.
   */
  #relay(upstream: Socket, headerOut: Buffer): void {
    this.#upstream = upstream;
    const client = this.#client;
    upstream.write(this.#leg.first(headerOut));

    client.on("data", (chunk: Buffer) => {
      this.#bytesIn += chunk.length;
      if (this.#asterisk.scan(chunk)) this.#startGrace();
      // Once the server is gone, what Asterisk still sends (its final HANGUP) goes nowhere.
      if (upstream.destroyed || !upstream.writable) return;
      if (!upstream.write(chunk)) {
        client.pause();
        this.#held("upstream", upstream);
      }
    });
    upstream.on("drain", () => {
      this.#stall.upstream.since = 0;
      client.resume();
    });
    client.on("drain", () => {
      this.#stall.client.since = 0;
      upstream.resume();
    });
    client.on("end", () => {
      this.#firstGone ??= "client";
      if (!upstream.destroyed && upstream.writable) {
        upstream.end();
        if (upstream.writableLength > 0) this.#held("upstream", upstream);
      }
      this.#linger();
    });
    upstream.on("data", (chunk: Buffer) => this.#fromUpstream(chunk));
    upstream.on("end", () => {
      this.#firstGone ??= "upstream";
      // What is left of a last unterminated line still belongs to Asterisk: res_agi.c runs
      // a line cut by EOF as a command.
      const tail = this.#lines.takeTail();
      if (!client.destroyed && client.writable) {
        if (tail) {
          this.#lines.count(tail);
          this.#bytesOut += tail.length;
          client.end(tail);
        } else client.end();
        if (client.writableLength > 0) this.#held("client", client);
      }
      this.#linger();
    });
    upstream.on("error", (err) => {
      this.#firstGone ??= "upstream";
      this.#peerError ??= `server: ${err.message}`;
      if (!peerGone(err)) this.#outcome ??= "upstream_error";
    });
    upstream.on("close", () => {
      this.#upstreamClosed = true;
      this.#firstGone ??= "upstream";
      // A line cut by a reset is not a command: it is dropped, and the session was mid-command.
      const lines = this.#lines;
      this.#unsettled = this.#asterisk.hangupSeen
        ? undefined
        : unsettled(lines.cut, lines.commands, this.#asterisk.replies);
      lines.drop();
      if (!client.destroyed) {
        if (!client.writableEnded) client.end();
        // Read on (and drop) what Asterisk still sends, so its close is seen even if the
        // relay had paused it.
        client.resume();
      }
      this.#linger();
      this.#maybeFinish();
    });
    if (this.#asterisk.hangupSeen) this.#startGrace();
    client.resume();
  }

  /** Forward only whole lines toward Asterisk; hold the tail until its newline arrives. */
  #fromUpstream(chunk: Buffer): void {
    const data = this.#lines.push(chunk);
    if (data === undefined) return;
    if (data === LINE_TOO_LONG) {
      this.#lineTooLong();
      return;
    }
    const client = this.#client;
    if (client.destroyed || !client.writable) return;
    this.#lines.count(data);
    this.#bytesOut += data.length;
    if (!client.write(data)) {
      this.#upstream?.pause();
      this.#held("client", client);
    }
  }

  #lineTooLong(): void {
    this.#outcome = "line_too_long";
    this.#error = `upstream sent a line longer than ${MAX_UPSTREAM_LINE} bytes`;
    this.#upstream?.destroy();
    this.#client.destroy();
  }

  #startGrace(): void {
    const ms = this.#env.options.hangupGraceMs;
    this.#timer(ms, () => {
      if (this.#finished) return;
      this.#outcome ??= "hangup_grace_expired";
      this.#error ??= `upstream still open ${ms}ms after Asterisk's HANGUP`;
      this.#upstream?.destroy();
      this.#client.destroy();
    });
  }

  /**
   * `sock` holds bytes it has not taken (a write was refused, or an end waits behind them):
   * start its stall clock. One timer per session, armed only while something is held, so a
   * burst of refused writes costs no timer each.
   */
  #held(side: "client" | "upstream", sock: Socket): void {
    const s = this.#stall[side];
    if (s.since === 0) {
      s.since = Date.now();
      s.held = sock.writableLength;
    }
    if (!this.#stallTimer && !this.#finished)
      this.#stallTimer = setTimeout(() => this.#checkStall(), this.#env.options.stallTimeoutMs);
  }

  /** A peer that took some of what is held made progress; one that took none for stall_timeout ends the session. */
  #checkStall(): void {
    this.#stallTimer = undefined;
    if (this.#finished) return;
    const ms = this.#env.options.stallTimeoutMs;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const side of ["client", "upstream"] as const) {
      const s = this.#stall[side];
      const sock = side === "client" ? this.#client : this.#upstream;
      if (s.since === 0) continue;
      const left = sock && !sock.destroyed ? sock.writableLength : 0;
      if (left === 0) {
        s.since = 0;
        continue;
      }
      if (left < s.held) {
        s.since = now;
        s.held = left;
      }
      const due = s.since + ms - now;
      if (due <= 0) {
        this.#outcome ??= "stall_timeout";
        this.#error ??= `${side === "client" ? "Asterisk" : "the server"} took none of ${left} pending bytes for ${ms}ms`;
        this.#upstream?.destroy();
        this.#client.destroy();
        return;
      }
      next = Math.min(next, due);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#stallTimer = setTimeout(() => this.#checkStall(), next);
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
    const up = this.#upstream;
    if (!up || !this.#clientClosed) return;
    if (this.#upstreamClosed) {
      const outcome: Outcome =
        this.#outcome ??
        (this.#lines.failureSent
          ? "failure_sent"
          : this.#firstGone === "client"
            ? // The channel hung up and Asterisk left (AGIEXITONHANGUP=yes): a normal end.
              this.#asterisk.hangupSeen
              ? "completed"
              : "client_gone"
            : this.#unsettled === undefined
              ? "completed"
              : "upstream_gone");
      let error = this.#error;
      if (outcome === "client_gone" || outcome === "upstream_gone") {
        const why = outcome === "upstream_gone" ? this.#unsettled : undefined;
        const peer = this.#peerError;
        error = why && peer ? `${why} (${peer})` : (why ?? peer);
      }
      this.#finish(outcome, error);
      return;
    }
    // Asterisk is gone: nothing more can reach it. The server gets what is pending and the
    // close (a FIN), then its socket is closed; what it still sends is read and dropped.
    this.#firstGone ??= "client";
    up.resume();
    up.destroySoon();
    if (up.writableLength > 0) this.#held("upstream", up);
    this.#linger();
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
    clearTimeout(this.#stallTimer);
    this.#upstream?.destroy();
    this.#client.destroy();
    const leg = this.#leg;
    leg.end();
    this.#conn.finished();
    if (!this.#env.events.has("session.end")) return;
    this.#env.events.emit("session.end", {
      protocol: "fastagi",
      client: this.#peer,
      listener: this.#env.listener.name,
      request: this.#request,
      upstreamRequest: this.#upstreamRequest !== this.#request ? this.#upstreamRequest : undefined,
      route: this.#route,
      pool: leg.poolName,
      server: leg.server,
      attempts: leg.attempts,
      durationMs: Date.now() - this.#started,
      setupMs: leg.connectedAt === undefined ? undefined : leg.connectedAt - this.#started,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      outcome,
      ok: outcome === "completed",
      error,
      errorCode: error === undefined ? undefined : (this.#errorCode ?? OUTCOME_CODES[outcome]),
    });
  }
}
