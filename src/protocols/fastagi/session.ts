import type { Socket } from "node:net";
import { type ErrorCode, ErrorCodes, errorMessage } from "../../core/errors.ts";
import { type CancelToken, cancel } from "../../net/connect.ts";
import { keepAliveOn } from "../../net/keepalive.ts";
import type { Accepted, SessionInfo } from "../../net/stream-listener.ts";
import { HeaderReader, parseHeader } from "./header.ts";
import { AsteriskLines } from "./lines.ts";
import { OUTCOME_CODES, type Outcome, peerGone } from "./outcomes.ts";
import { refuseWithFailure } from "./refusal.ts";
import { Relay } from "./relay.ts";
import { type AgiRequest, fullUrl, splitAgiUrl } from "./request.ts";
import { upstreamHeader } from "./rewrite.ts";
import type { RouteDecision } from "./router.ts";
import type { SessionEnv } from "./session-env.ts";
import { UpstreamLeg } from "./upstream.ts";

/**
 * One FastAGI session: read the header, route, connect (with failover: upstream.ts), then
 * relay both ways (relay.ts). Toward Asterisk only whole lines are written, so a fragmenting
 * upstream cannot make the channel thread spin (res_agi.c busy-loops on a partial line).
 * Every path out goes through finish(), which emits the one session.end event.
 */
export class FastAgiSession {
  readonly #client: Socket;
  readonly #conn: Accepted;
  readonly #env: SessionEnv;
  readonly startedAt = Date.now();
  readonly #peer: string;
  readonly #cancel: CancelToken = { cancelled: false, onCancel: undefined };
  /** Where the session was sent, the tries that failed, and the pool slot it holds. */
  readonly #leg: UpstreamLeg;
  /** Asterisk's lines (HANGUP, replies), read from its first byte after the header. */
  readonly #asterisk = new AsteriskLines();
  /** Set once the upstream is connected: from then on Asterisk's socket events go to it. */
  #relay: Relay | undefined;
  #route: string | undefined;
  #request: string | undefined;
  #upstreamRequest: string | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #finished = false;
  #outcome: Outcome | undefined;
  #error: string | undefined;
  #headerTimer: NodeJS.Timeout | undefined;
  #clientClosed = false;
  /** What Asterisk's bytes are, until the relay takes them: header, held while routing, or ignored. */
  #phase: "header" | "routing" | "done" = "header";
  /** Set where the outcome alone does not tell the code (which header limit, which route error). */
  #errorCode: ErrorCode | undefined;

  constructor(conn: Accepted, env: SessionEnv) {
    this.#conn = conn;
    this.#client = conn.socket;
    this.#env = env;
    this.#peer = `${this.#client.remoteAddress ?? "?"}:${this.#client.remotePort ?? "?"}`;
    this.#leg = new UpstreamLeg(env, this.#cancel);
  }

  start(): void {
    const client = this.#client;
    const reader = new HeaderReader();
    if (this.#env.events.has("session.start"))
      this.#env.events.emit("session.start", {
        protocol: "fastagi",
        listener: this.#env.listener.name,
        client: this.#peer,
      });
    this.#headerTimer = setTimeout(() => {
      // Too late is too late: the rest of a header arriving after FAILURE is not routed.
      this.#phase = "done";
      const ms = this.#env.options.headerTimeoutMs;
      this.#reject("header_timeout", `no complete header within ${ms}ms (${reader.received} bytes received)`);
    }, this.#env.options.headerTimeoutMs);
    // One listener per event for the whole session; what a chunk means depends on the phase.
    client.on("data", (chunk: Buffer) => {
      const relay = this.#relay;
      if (relay) return relay.fromClient(chunk);
      this.#bytesIn += chunk.length;
      if (this.#phase === "routing") return this.#hold(chunk);
      if (this.#phase === "header") this.#header(reader, chunk);
    });
    client.on("error", (err) => this.#clientGone("client_error", err));
    client.on("end", () => {
      // The listener keeps sockets half-open (a FIN from the server must not end Asterisk's
      // side). Before the relay runs, Asterisk closing its side means it is gone: close ours.
      if (this.#relay) this.#relay.clientEnd();
      else client.destroy();
    });
    client.on("close", () => {
      this.#clientClosed = true;
      if (!this.#relay) {
        cancel(this.#cancel);
        this.#finish(this.#outcome ?? "client_gone", this.#error);
      } else this.#relay.clientClosed();
    });
  }

  /** The header's bytes: once it is whole, routing starts and later bytes are held. */
  #header(reader: HeaderReader, chunk: Buffer): void {
    const r = reader.push(chunk);
    if ("error" in r) {
      this.#phase = "done";
      clearTimeout(this.#headerTimer);
      this.#reject(
        "bad_header",
        r.error.message,
        r.error.code === "invalid" ? ErrorCodes.HEADER_INVALID : ErrorCodes.HEADER_TOO_LONG,
      );
      return;
    }
    if (!r.done) return;
    this.#phase = "routing";
    clearTimeout(this.#headerTimer);
    this.#conn.established();
    if (r.rest.length > 0) this.#hold(r.rest);
    void this.#route_(r.header);
  }

  /** Bytes from Asterisk that arrive before the upstream is ready (an early HANGUP) are kept. */
  #hold(chunk: Buffer): void {
    this.#asterisk.scan(chunk);
    if (!this.#leg.hold(chunk))
      this.#clientGone("client_error", new Error("client sent too much before the upstream was ready"));
  }

  /** Asterisk's socket failed: a reset means Asterisk left; any other fault (TLS) is an error of its own. */
  #clientGone(outcome: Outcome, err: Error): void {
    if (this.#relay) {
      this.#relay.clientError(err);
      return;
    }
    this.#error ??= err.message;
    this.#outcome ??= peerGone(err) ? "client_gone" : outcome;
    this.#client.destroy();
    cancel(this.#cancel);
  }

  /** Answers FAILURE (AGISTATUS=FAILURE in the dialplan) and closes once it is flushed (refusal.ts). */
  #reject(outcome: Outcome, message: string, code?: ErrorCode): void {
    this.#phase = "done";
    this.#conn.established();
    this.#errorCode = code;
    this.#outcome = outcome;
    this.#error = message;
    this.#bytesOut += refuseWithFailure(this.#client);
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
    const request: AgiRequest = { ...parts, vars: header.vars };
    let decision: RouteDecision;
    try {
      decision = await this.#env.decide(request);
    } catch (err) {
      decision = { kind: "error", route: undefined, message: errorMessage(err), hops: 0 };
    }
    if (this.#left()) return;
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
    this.#phase = "done";
    if (!upstream) {
      if (this.#left()) return;
      return this.#reject(
        "failure_no_server",
        this.#leg.attempts.length === 0 ? "no server can take the session" : "every server failed",
      );
    }
    if (this.#left(upstream)) return;
    this.#startRelay(upstream, headerOut);
  }

  /** Asterisk left while the session routed or connected: the session ends there. */
  #left(upstream?: Socket): boolean {
    if (!this.#clientClosed && !this.#client.destroyed) return false;
    upstream?.destroy();
    this.#finish(this.#outcome ?? "client_gone", this.#error);
    return true;
  }

  /**
   * Hands the session to its relay, once the upstream has the header and what Asterisk sent
   * meanwhile. An outcome already given (a FAILURE answered at header_timeout, while the
   * header's end still came) stands.
   */
  #startRelay(upstream: Socket, headerOut: Buffer): void {
    upstream.write(this.#leg.first(headerOut));
    const relay = new Relay(
      this.#client,
      upstream,
      this.#asterisk,
      this.#env.options,
      (outcome, error) => this.#finish(outcome, error),
      this.#outcome,
      this.#error,
    );
    this.#relay = relay;
    relay.start(this.#leg.tap);
  }

  /** What it is doing now, for the admin API (the relay counts its own bytes). */
  info(): SessionInfo {
    const r = this.#relay;
    return {
      client: this.#peer,
      request: this.#request,
      route: this.#route,
      pool: this.#leg.poolName,
      server: this.#leg.server,
      startedAt: this.startedAt,
      bytesIn: this.#bytesIn + (r?.bytesIn ?? 0),
      bytesOut: this.#bytesOut + (r?.bytesOut ?? 0),
    };
  }

  /** TCP keep-alive on both sockets from now on (the server's: from its connect, if still connecting). */
  keepAlive(): void {
    if (this.#leg.keepAlive()) keepAliveOn(this.#client);
  }

  /** Ends the session now (shutdown deadline passed). */
  destroy(reason: string): void {
    if (this.#relay) {
      this.#relay.destroy(reason);
      return;
    }
    this.#outcome ??= "closed";
    this.#error ??= reason;
    cancel(this.#cancel);
    this.#client.destroy();
  }

  #finish(outcome: Outcome, error: string | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#headerTimer);
    const relay = this.#relay;
    relay?.stop();
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
      durationMs: Date.now() - this.startedAt,
      // Setup as Asterisk lives it: from its connect to the server's first command.
      setupMs: relay?.firstLineAt === undefined ? undefined : relay.firstLineAt - this.startedAt,
      bytesIn: relay ? this.#bytesIn + relay.bytesIn : this.#bytesIn,
      bytesOut: relay ? this.#bytesOut + relay.bytesOut : this.#bytesOut,
      outcome,
      ok: outcome === "completed",
      error,
      errorCode: error === undefined ? undefined : (this.#errorCode ?? OUTCOME_CODES[outcome]),
    });
  }
}
