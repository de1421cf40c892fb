import type { Socket } from "node:net";
import type { ListenerConfig } from "../config/types.ts";

/**
 * What the listener needs of a session: to be told to stop, to say when it ended, and to
 * turn keep-alive on once it is old enough to need it.
 */
export interface StreamSession {
  /** When it was accepted (epoch ms). */
  readonly startedAt: number;
  /** Turns TCP keep-alive on for its sockets, now and for any it opens later; idempotent. */
  keepAlive(): void;
  /** Ends the session now (shutdown deadline passed). */
  destroy(reason: string): void;
  /** What it is doing, for the admin API's list of sessions in flight. */
  info(): SessionInfo;
}

export interface SessionInfo {
  readonly client: string;
  readonly request: string | undefined;
  readonly route: string | undefined;
  readonly pool: string | undefined;
  readonly server: string | undefined;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Handed to a protocol for each accepted connection. */
export interface Accepted {
  readonly socket: Socket;
  readonly listener: ListenerConfig;
  /** The protocol's opening (header) is complete: the connection no longer counts as pending. */
  established(): void;
  /** The session ended: forget it (a drain waits for these). */
  finished(): void;
}
