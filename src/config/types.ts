import type { HostPort } from "../core/address.ts";

/** The normalised, frozen configuration every component reads. Never mutated; swapped whole. */
export interface Snapshot {
  readonly source: string;
  /** sha256 of the config text and every file it loaded. */
  readonly digest: string;
  readonly log: LogSettings;
  readonly shutdownTimeoutMs: number | undefined;
  readonly listeners: readonly ListenerConfig[];
  readonly routes: readonly RouteConfig[];
  readonly pools: ReadonlyMap<string, PoolConfig>;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

export interface LogSettings {
  readonly level: LogLevel;
  readonly syslog:
    | { readonly transport: "udp" | "tcp"; readonly host: string; readonly port: number }
    | undefined;
  readonly syslogFacility: number;
}

export interface TlsServerConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | undefined;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

export interface TlsClientConfig {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly servername: string | undefined;
  readonly verify: boolean;
}

export interface ListenerConfig {
  readonly name: string;
  readonly protocol: "fastagi";
  readonly listen: HostPort;
  readonly tls: TlsServerConfig | undefined;
  readonly forwardedFor: boolean;
  readonly hangupGraceMs: number;
  readonly headerTimeoutMs: number;
  readonly stallTimeoutMs: number;
}

export interface RouteMatch {
  readonly path: RegExp | undefined;
  readonly query: readonly (readonly [string, RegExp])[];
  readonly header: readonly (readonly [string, RegExp])[];
}

export interface RouteTarget {
  readonly address: HostPort;
  /** agi://host:port of the target, used as the new agi_request authority. */
  readonly authority: string;
  readonly tls: TlsClientConfig | undefined;
  /** Path (and ?query) from the target URL; replaces the request's when set. */
  readonly pathAndQuery: string | undefined;
}

export interface RouteConfig {
  readonly index: number;
  readonly name: string;
  readonly listener: string;
  readonly match: RouteMatch;
  readonly rewrite: string | undefined;
  readonly reinject: boolean;
  readonly pool: string | undefined;
  readonly to: RouteTarget | undefined;
  readonly script:
    | { readonly file: string; readonly exportName: string; readonly timeoutMs: number }
    | undefined;
}

export type BalanceName = "least-sessions" | "round-robin" | "failover" | "hash";

export interface ServerConfig {
  /** host:port, the server's identity inside its pool. */
  readonly key: string;
  readonly address: HostPort;
  readonly weight: number;
  readonly maxSessions: number;
  readonly backup: boolean;
  readonly tls: TlsClientConfig | undefined;
  readonly agentAddress: string | undefined;
}

export type HealthCheckConfig =
  | { readonly kind: "tcp" }
  | { readonly kind: "agent"; readonly port: number; readonly send: string | undefined };

export interface HealthConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly checks: readonly HealthCheckConfig[];
}

export interface PoolConfig {
  readonly name: string;
  readonly balance: BalanceName;
  readonly hashKey: string;
  readonly connectTimeoutMs: number;
  /** Bound on the whole search for a server: Asterisk's caller hears silence meanwhile. */
  readonly totalTimeoutMs: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly servers: readonly ServerConfig[];
  readonly health: HealthConfig | undefined;
}
