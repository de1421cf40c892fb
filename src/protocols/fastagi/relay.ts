import type { Socket } from "node:net";
import type { ReadTap } from "../../net/read-tap.ts";
import { type AsteriskLines, LINE_TOO_LONG, MAX_UPSTREAM_LINE, UpstreamLines, unsettled } from "./lines.ts";
import { type Outcome, peerGone, relayError, relayOutcome } from "./outcomes.ts";
import { type Side, StallClock } from "./stall.ts";
import type { FastAgiListenerOptions } from "./types.ts";

/** After one side has closed (FIN, reset), how long the other may take to flush and close. */
export const LINGER_MS = 5_000;

/** The relay's bounds, from the listener's settings. */
export type RelayBounds = Pick<FastAgiListenerOptions, "hangupGraceMs" | "stallTimeoutMs">;

/** Called once, when both sockets have closed: the session ends with this outcome. */
export type RelayEnd = (outcome: Outcome, error: string | undefined) => void;

/**
 * The relay of an established session. It relays both ways as a TCP proxy does, half-closes
 * included (both sockets are half-open: listener.ts, connect.ts): a FIN from one side ends
 * the other side's writing once what is pending toward it has been written, and the open
 * direction keeps flowing. Asterisk sends its final `HANGUP` after the server's FIN
 * (res_agi.c), and the server must get it. Toward Asterisk only whole lines are written.
 * Every state is bounded in time, as HAProxy's `timeout client`/`timeout server` bound a
 * TCP proxy: after a FIN or a reset by LINGER_MS, after Asterisk's HANGUP by hangup_grace,
 * and bytes a peer does not take by stall_timeout. A quiet session (Asterisk playing a long
 * prompt) holds no bytes and is never ended by a timer.
 *
 * The hot path does no more than a TCP relay must: the session hands it Asterisk's socket
 * events (one listener each per session), the server's bytes come through a ReadTap (Node's
 * `onread`), 'drain' is listened to only while a write waits, one timer runs in the normal
 * end, and a server whose FIN came is closed, not shut down, when Asterisk's FIN follows.
 */
export class Relay {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #asterisk: AsteriskLines;
  readonly #lines = new UpstreamLines();
  readonly #bounds: RelayBounds;
  readonly #end: RelayEnd;
  /** stall_timeout's clock, made when bytes are first held (most sessions never hold any). */
  #stall: StallClock | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #firstLineAt: number | undefined;
  #outcome: Outcome | undefined;
  #error: string | undefined;
  #clientClosed = false;
  #upstreamClosed = false;
  /** The server's FIN came. */
  #upstreamEnded = false;
  /** Which side closed or reset first. */
  #firstGone: "client" | "upstream" | undefined;
  /** Set at the upstream's close when a command had no reply (and Asterisk said no HANGUP). */
  #unsettled: string | undefined;
  /** The socket error behind a `*_gone` outcome, for the log. */
  #peerError: string | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  /**
   * `asterisk` has read what Asterisk sent before the relay (an early HANGUP); `outcome` and
   * `error` are what the session had already decided, if anything (they stand).
   */
  constructor(
    client: Socket,
    upstream: Socket,
    asterisk: AsteriskLines,
    bounds: RelayBounds,
    end: RelayEnd,
    outcome: Outcome | undefined,
    error: string | undefined,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#asterisk = asterisk;
    this.#bounds = bounds;
    this.#end = end;
    this.#outcome = outcome;
    this.#error = error;
  }

  /** Bytes read from Asterisk since the relay began. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** When the server's first command went to Asterisk (epoch ms), if it did. */
  get firstLineAt(): number | undefined {
    return this.#firstLineAt;
  }

  /** Bytes written toward Asterisk. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** Starts relaying; `tap` brings the server's bytes. */
  start(tap: ReadTap): void {
    const upstream = this.#upstream;
    upstream.on("end", () => this.#upstreamEnd());
    upstream.on("error", (err) => {
      this.#firstGone ??= "upstream";
      this.#peerError ??= `server: ${err.message}`;
      if (!peerGone(err)) this.#outcome ??= "upstream_error";
    });
    upstream.on("close", () => this.#upstreamClose());
    tap.attach((chunk) => this.#fromUpstream(chunk), upstream);
    if (this.#asterisk.hangupSeen) this.#startGrace();
    this.#client.resume();
  }

  /** Bytes from Asterisk (the session's 'data' listener hands them on). */
  fromClient(chunk: Buffer): void {
    this.#bytesIn += chunk.length;
    if (this.#asterisk.scan(chunk) && !this.#upstreamEnded) this.#startGrace();
    const upstream = this.#upstream;
    // Once the server is gone, what Asterisk still sends (its final HANGUP) goes nowhere.
    if (upstream.destroyed || !upstream.writable) return;
    if (!upstream.write(chunk)) {
      this.#client.pause();
      this.#clock()?.wait("upstream");
    }
  }

  /** Asterisk's FIN. */
  clientEnd(): void {
    this.#firstGone ??= "client";
    const upstream = this.#upstream;
    if (!upstream.destroyed && upstream.writable) {
      // The server's FIN came and it has all we wrote: closing sends our FIN, without the
      // shutdown(2) and its extra trip through the event loop that end() would cost.
      if (this.#upstreamEnded && upstream.writableLength === 0) {
        upstream.destroy();
        return;
      }
      upstream.end();
      if (upstream.writableLength > 0) this.#held("upstream");
    }
    this.#linger();
  }

  /** Asterisk's socket failed: a reset means Asterisk left; any other fault (TLS) is an error of its own. */
  clientError(err: Error): void {
    this.#firstGone ??= "client";
    this.#peerError ??= `Asterisk: ${err.message}`;
    if (!peerGone(err)) this.#outcome ??= "client_error";
    // 'close' follows: #maybeFinish lets the server take what is left, then closes it.
    this.#client.destroy();
  }

  /** Asterisk's socket closed. */
  clientClosed(): void {
    this.#clientClosed = true;
    this.#maybeFinish();
  }

  /** Ends the relay now (shutdown deadline passed): both sockets close, then the session ends. */
  destroy(reason: string): void {
    this.#cut("closed", reason);
  }

  /** The session has ended: no timer is left, and the server's socket is closed. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#lingerTimer);
    this.#stall?.stop();
    this.#upstream.destroy();
  }

  /** Forward only whole lines toward Asterisk; hold the tail until its newline arrives. */
  #fromUpstream(chunk: Buffer): void {
    const data = this.#lines.push(chunk);
    if (data === undefined) return;
    if (data === LINE_TOO_LONG) {
      this.#outcome = "line_too_long";
      this.#error = `upstream sent a line longer than ${MAX_UPSTREAM_LINE} bytes`;
      this.#upstream.destroy();
      this.#client.destroy();
      return;
    }
    const client = this.#client;
    if (client.destroyed || !client.writable) return;
    this.#lines.count(data);
    this.#firstLineAt ??= Date.now();
    this.#bytesOut += data.length;
    if (!client.write(data)) {
      this.#upstream.pause();
      this.#clock()?.wait("client");
    }
  }

  /** The server's FIN: Asterisk gets it once what is pending toward it is written. */
  #upstreamEnd(): void {
    this.#upstreamEnded = true;
    this.#firstGone ??= "upstream";
    // What is left of a last unterminated line still belongs to Asterisk: res_agi.c runs
    // a line cut by EOF as a command.
    const client = this.#client;
    const tail = this.#lines.takeTail();
    if (!client.destroyed && client.writable) {
      if (tail) {
        this.#lines.count(tail);
        this.#bytesOut += tail.length;
        client.end(tail);
      } else client.end();
      if (client.writableLength > 0) this.#held("client");
    }
    this.#linger();
  }

  #upstreamClose(): void {
    const client = this.#client;
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
  }

  /** `side`'s socket holds bytes it has not taken (a write was refused, or an end waits behind them). */
  #held(side: Side): void {
    this.#clock()?.held(side);
  }

  /** stall_timeout's clock, made the first time bytes are held; none once the relay stopped. */
  #clock(): StallClock | undefined {
    if (this.#stopped) return undefined;
    if (!this.#stall) {
      const ms = this.#bounds.stallTimeoutMs;
      this.#stall = new StallClock(this.#client, this.#upstream, ms, (which, left) =>
        this.#cut(
          "stall_timeout",
          `${which === "client" ? "Asterisk" : "the server"} took none of ${left} pending bytes for ${ms}ms`,
        ),
      );
    }
    return this.#stall;
  }

  #startGrace(): void {
    if (this.#graceTimer) return;
    const ms = this.#bounds.hangupGraceMs;
    this.#graceTimer = setTimeout(
      () => this.#cut("hangup_grace_expired", `upstream still open ${ms}ms after Asterisk's HANGUP`),
      ms,
    );
  }

  /** A bound or the shutdown ends the relay: both sockets close, and their 'close' ends the session. */
  #cut(outcome: Outcome, error: string): void {
    this.#outcome ??= outcome;
    this.#error ??= error;
    this.#upstream.destroy();
    this.#client.destroy();
  }

  #linger(): void {
    if (this.#lingerTimer) return;
    this.#lingerTimer = setTimeout(() => {
      this.#upstream.destroy();
      this.#client.destroy();
    }, LINGER_MS);
  }

  #maybeFinish(): void {
    if (!this.#clientClosed) return;
    const up = this.#upstream;
    if (this.#upstreamClosed) {
      const outcome = relayOutcome(
        this.#outcome,
        this.#lines.failureSent,
        this.#firstGone === "client",
        this.#asterisk.hangupSeen,
        this.#unsettled,
      );
      this.#end(outcome, relayError(outcome, this.#error, this.#unsettled, this.#peerError));
      return;
    }
    // Asterisk is gone: nothing more can reach it. The server gets what is pending and the
    // close (a FIN), then its socket is closed; what it still sends is read and dropped.
    this.#firstGone ??= "client";
    up.resume();
    up.destroySoon();
    if (up.writableLength > 0) this.#held("upstream");
    this.#linger();
  }
}
