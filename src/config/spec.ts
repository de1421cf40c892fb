import type { z } from "zod";
import type { PingTransport, RouteConfig, TlsClientConfig } from "./types.ts";

export type ConfigPath = readonly (string | number)[];
export interface ConfigIssue {
  readonly path: ConfigPath;
  readonly message: string;
}

/** Helpers a config section gets while a snapshot is built; every problem lands in one list. */
export interface BuildContext {
  /** Records a problem at `path`; returns undefined so callers can `return ctx.fail(...)`. */
  fail(path: ConfigPath, message: string): undefined;
  /** Reads a file named in the config (relative to the config's folder) and adds it to the digest. */
  readFile(path: ConfigPath, file: string): Buffer | undefined;
  /** The absolute path of a file named in the config. */
  resolve(file: string): string;
  regex(path: ConfigPath, source: string): RegExp | undefined;
  /** Client TLS settings of an upstream (`tls: true` or an object), loaded and checked once. */
  clientTls(path: ConfigPath, raw: unknown): TlsClientConfig | undefined;
}

/** Pool and server keys that only some protocols' pools take (SIP's, so far). */
export type ProtocolPoolKey =
  | "failover_codes"
  | "invite_timeout"
  | "ring_timeout"
  | "esl"
  | "sip-options"
  | "http";

/**
 * What the config layer needs of a protocol: its own listener and route keys, their
 * defaults, and how to turn validated input into frozen settings. Each protocol's folder
 * supplies one; the config layer never imports a protocol.
 */
export interface ProtocolConfigSpec {
  readonly name: string;
  /** Port of listeners and of pool servers whose address has none. */
  readonly defaultPort: number;
  /** hash_key of `balance: hash` pools when the config gives none. */
  readonly defaultHashKey: string;
  /** The protocol's own listener keys (beside name, protocol, listen, tls). */
  readonly listenerShape: z.ZodRawShape;
  /** The protocol's own route keys (beside name, listener, pool). */
  readonly routeShape: z.ZodRawShape;
  buildListenerOptions(raw: Record<string, unknown>, path: ConfigPath, ctx: BuildContext): unknown;
  /** Builds a route; `base` has the common fields. Checks that need pools use `hasPool`. */
  buildRoute(
    raw: Record<string, unknown>,
    base: RouteConfig,
    path: ConfigPath,
    ctx: BuildContext,
  ): RouteConfig | undefined;
  /** Pool keys beyond the common ones that this protocol's pools take (none when absent). */
  readonly poolKeys?: readonly ProtocolPoolKey[];
  /** Whether its listeners take `tls.sni` (certificates chosen by SNI name). */
  readonly tlsSni?: boolean;
  /**
   * The transport a listener of this protocol reaches its pools' servers with, where that
   * varies by listener (SIP: its first transport): a bare `sip-options` check pings over it.
   */
  serverTransport?(listenerOptions: unknown): PingTransport;
  /** Compiles a hash_key template into a function of the header variables. */
  compileHashKey(template: string): (vars: ReadonlyMap<string, string>) => string;
}
