import type { Socket } from "node:net";
import { type Link, LinkedSet } from "./linked-set.ts";

/** A connection in its TLS handshake or protocol opening; `peer` (address:port) for TLS only. */
export interface PendingConn {
  readonly raw: Socket;
  readonly peer: string | undefined;
  /** TLS: still in its handshake, so not yet among the listener's sessions. */
  handshaking: boolean;
}

/**
 * A listener's connections not yet established (the raw socket; for TLS the one under the
 * TLS socket), and how many of them are TLS handshakes: those count toward max_connections
 * beside the sessions, which a plain connection is from accept on.
 */
export class PendingConns {
  readonly #set = new LinkedSet<PendingConn>();
  #handshakes = 0;

  get size(): number {
    return this.#set.size;
  }

  get handshakes(): number {
    return this.#handshakes;
  }

  values(): Iterable<PendingConn> {
    return this.#set.values();
  }

  /**
   * Counts a raw connection. The peer is read now, before a TLS socket wraps the raw one: it
   * is how the TLS socket finds its slot when the handshake completes. A TLS raw socket may
   * never reach a session (a handshake that fails): its close frees the slot. A plain socket
   * is the session's own: its end does.
   */
  add(raw: Socket, plain: boolean): Link<PendingConn> {
    const conn: PendingConn = {
      raw,
      peer: plain ? undefined : `${raw.remoteAddress}:${raw.remotePort}`,
      handshaking: !plain,
    };
    const link = this.#set.add(conn);
    if (plain) return link;
    this.#handshakes++;
    raw.once("close", () => {
      this.#handshakeOver(conn);
      this.#set.remove(link);
    });
    return link;
  }

  /** The TLS connection from `peer` finished its handshake: its slot, now a session's. */
  handshakeDone(peer: string): Link<PendingConn> | undefined {
    const link = this.#set.find((p) => p.peer === peer);
    if (link?.value) this.#handshakeOver(link.value);
    return link;
  }

  remove(link: Link<PendingConn>): void {
    this.#set.remove(link);
  }

  #handshakeOver(conn: PendingConn): void {
    if (!conn.handshaking) return;
    conn.handshaking = false;
    this.#handshakes--;
  }
}
