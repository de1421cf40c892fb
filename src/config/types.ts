import type { HostPort } from "../core/address.ts";

/** The normalised, frozen configuration every component reads. Never mutated; swapped whole. */
export interface Snapshot {
  readonly source: string;
  /** sha256 of the config text and every file it loaded. */
  readonly digest: string;
  /** Every file the snapshot loaded besides the config (certificates, scripts), absolute. */
  readonly files: readonly string[];
  readonly log: LogSettings;
  readonly shutdownTimeoutMs: number | undefined;
  /** Threads that run the listeners (`workers:`; `auto` resolved to the cores): 1 = this one only. */
  readonly workers: number;
  readonly admin: AdminSettings | undefined;
  readonly listeners: readonly ListenerConfig[];
  readonly routes: readonly RouteConfig[];
  readonly pools: ReadonlyMap<string, PoolConfig>;
}

/** The admin API and dashboard (observe/admin/). */
export interface AdminSettings {
  readonly listen: HostPort;
  readonly tokenFile: string | undefined;
  /** The bearer token (the file's first line), read when the snapshot was built. */
  readonly token: string | undefined;
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
  /** Certificates chosen by SNI name (http listeners only); empty when the config gives none. */
  readonly sni: readonly TlsSniCertificate[];
}

export interface TlsSniCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Host names from the certificate (DNS subjectAltNames, else CN), lower case, `*.x.y` wildcards. */
  readonly names: readonly string[];
}

export interface TlsClientConfig {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly servername: string | undefined;
  readonly verify: boolean;
}

/** What every listener has; `options` holds its protocol's own settings (built by that protocol). */
export interface ListenerConfig<O = unknown> {
  readonly name: string;
  readonly protocol: string;
  readonly listen: HostPort;
  readonly tls: TlsServerConfig | undefined;
  readonly options: O;
}

/** What every route has; protocols extend it with their own match and action fields. */
export interface RouteConfig {
  readonly index: number;
  readonly name: string;
  readonly listener: string;
  readonly protocol: string;
  /** The pool this route names, if any (checked against the pools here). */
  readonly pool: string | undefined;
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
  /** FreeSWITCH's event socket (SIP pools): its HEARTBEATs feed health and load. */
  readonly esl: EslConfig | undefined;
}

export interface EslConfig {
  /** Defaults to the server's own host. */
  readonly host: string;
  /** 8021 by default, as FreeSWITCH's event socket listens. */
  readonly port: number;
  /** ClueCon by default, FreeSWITCH's own default. */
  readonly password: string;
  /** No HEARTBEAT for this long: the server is down and its last report no longer ranks it (60 s). */
  readonly heartbeatTimeoutMs: number;
}

/** How a `sip-options` check reaches a server: as the pool's calls do. */
export type PingTransport = "udp" | "tcp" | "tls";

export type HealthCheckConfig =
  | { readonly kind: "tcp" }
  /** SIP pools: an OPTIONS ping over the transport the pool's servers are reached with. */
  | { readonly kind: "sip-options"; readonly transport: PingTransport }
  | { readonly kind: "agent"; readonly port: number; readonly send: string | undefined }
  /** HTTP pools: GET `path`; `expect` undefined means any 2xx or 3xx. */
  | { readonly kind: "http"; readonly path: string; readonly expect: number | undefined };

export interface HealthConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly checks: readonly HealthCheckConfig[];
}

export interface PoolConfig {
  readonly name: string;
  /** The protocol of the routes that use it (its default port and hash key come from there). */
  readonly protocol: string;
  readonly balance: BalanceName;
  readonly hashKey: string;
  /** hash_key compiled once: header variables in, the key out. */
  readonly hashKeyOf: (vars: ReadonlyMap<string, string>) => string;
  readonly connectTimeoutMs: number;
  /** Bound on the whole search for a server: Asterisk's caller hears silence meanwhile. */
  readonly totalTimeoutMs: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly servers: readonly ServerConfig[];
  readonly health: HealthConfig | undefined;
  /** SIP: final codes to an initial INVITE that fail it over to the next server (486 is an answer). */
  readonly failoverCodes: readonly number[];
  /** SIP: no provisional reply within this and the INVITE goes to the next server. */
  readonly inviteTimeoutMs: number;
  /** SIP: Timer C, how long a call may ring with no final answer (from its last provisional one). */
  readonly ringTimeoutMs: number;
}
