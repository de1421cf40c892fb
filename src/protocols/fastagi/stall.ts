import type { Socket } from "node:net";

/** Whose socket holds the bytes: Asterisk's ("client") or the server's ("upstream"). */
export type Side = "client" | "upstream";

/**
 * stall_timeout for one relay, as HAProxy's `timeout client`/`timeout server` bound a TCP
 * proxy: per direction, since when the proxy holds bytes its peer does not take. A peer that
 * takes some of them made progress; one that takes none for the whole bound is reported.
 * One timer per relay, armed only while something is held, so a burst of refused writes
 * costs no timer each, and a quiet session (nothing held) is never cut.
 */
export class StallClock {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #ms: number;
  readonly #onStall: (side: Side, left: number) => void;
  /** Per direction, since when bytes are held (0: none) and how many there were then. */
  readonly #sides = {
    client: { since: 0, held: 0 },
    upstream: { since: 0, held: 0 },
  };
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Listening for that side's 'drain'. */
  #waiting = { client: false, upstream: false };

  constructor(client: Socket, upstream: Socket, ms: number, onStall: (side: Side, left: number) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#ms = ms;
    this.#onStall = onStall;
  }

  /** `side`'s socket holds bytes it has not taken (a write was refused, or an end waits behind them). */
  held(side: Side): void {
    const s = this.#sides[side];
    if (s.since === 0) {
      s.since = Date.now();
      s.held = (side === "client" ? this.#client : this.#upstream).writableLength;
    }
    if (!this.#timer && !this.#stopped) this.#timer = setTimeout(() => this.#check(), this.#ms);
  }

  /**
   * A write to `side` was refused and the other side's reading paused: its 'drain' resumes
   * that reading. Listened to only while a write waits (most sessions never have one).
   */
  wait(side: Side): void {
    this.held(side);
    if (this.#waiting[side]) return;
    this.#waiting[side] = true;
    const sock = side === "client" ? this.#client : this.#upstream;
    const other = side === "client" ? this.#upstream : this.#client;
    sock.once("drain", () => {
      this.#waiting[side] = false;
      this.#sides[side].since = 0;
      other.resume();
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const ms = this.#ms;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const side of ["client", "upstream"] as const) {
      const s = this.#sides[side];
      const sock = side === "client" ? this.#client : this.#upstream;
      if (s.since === 0) continue;
      const left = !sock.destroyed ? sock.writableLength : 0;
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
        this.#onStall(side, left);
        return;
      }
      next = Math.min(next, due);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#timer = setTimeout(() => this.#check(), next);
  }
}
