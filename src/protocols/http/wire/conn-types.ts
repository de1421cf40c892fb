/**
 * What a client connection (server-conn.ts) is bounded by, and what it tells its listener:
 * types only, so the listener and the front server import no implementation for them.
 */

import type { Socket } from "node:net";
import type { RequestHead } from "./head.ts";
import type { InboundRequest } from "./inbound.ts";
import type { ServerConn } from "./server-conn.ts";

export interface ConnLimits {
  readonly maxHeaderSize: number;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly clientTimeoutMs: number;
}

export interface ConnHandler {
  request(req: InboundRequest): void;
  upgrade(head: RequestHead, socket: Socket, rest: Buffer, client: string): void;
  draining(): boolean;
  /** The connection is gone (or handed to a tunnel). */
  gone(c: ServerConn): void;
}
