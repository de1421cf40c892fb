import type { RouteConfig, TlsClientConfig } from "../../config/types.ts";
import type { HostPort } from "../../core/address.ts";
import type { CompiledTemplate } from "./request.ts";

/** A FastAGI listener's own settings. */
export interface FastAgiListenerOptions {
  /** Add agi_x_fwd_for with Asterisk's address (agitator-compatible). */
  readonly forwardedFor: boolean;
  /** After Asterisk's HANGUP, how long the server may stay open. */
  readonly hangupGraceMs: number;
  /** The whole header (and a TLS handshake) must arrive within this. */
  readonly headerTimeoutMs: number;
  /** Connections still in their TLS handshake or header, at most; more are closed at accept. */
  readonly maxPending: number;
  /** Connections open at once (sessions and TLS handshakes), at most. */
  readonly maxConnections: number;
  /** Bytes held for a peer that takes none of them for this long end the session. */
  readonly stallTimeoutMs: number;
  /**
   * A session gets TCP keep-alive on both its sockets from this age on (ms), not at accept and
   * connect: most sessions end long before. 0: at accept and connect. TLS listeners: always 0.
   */
  readonly keepAliveAfterMs: number;
}

export interface RouteMatch {
  readonly path: RegExp | undefined;
  readonly query: readonly (readonly [string, RegExp])[];
  readonly header: readonly (readonly [string, RegExp])[];
}

export interface RouteTarget {
  readonly address: HostPort;
  /** host:port of the target, used as the new agi_request authority. */
  readonly authority: string;
  readonly tls: TlsClientConfig | undefined;
  /** Path (and ?query) from the target URL; replaces the request's when set. */
  readonly pathAndQuery: string | undefined;
}

export interface RouteScript {
  readonly file: string;
  readonly exportName: string;
  readonly timeoutMs: number;
  /** sha256 of the file's bytes: an unchanged script keeps its worker across reloads. */
  readonly digest: string;
}

/** A FastAGI route: match on the request URI and header, then rewrite and send on. */
export interface FastAgiRoute extends RouteConfig {
  readonly match: RouteMatch;
  readonly rewrite: string | undefined;
  /** `rewrite` compiled once (url mode: header values percent-encoded). */
  readonly rewriteTemplate: CompiledTemplate | undefined;
  readonly reinject: boolean;
  readonly to: RouteTarget | undefined;
  readonly script: RouteScript | undefined;
}
