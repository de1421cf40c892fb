import type { ErrorCode } from "../core/errors.ts";
import type { ServerChange } from "../servers/types.ts";

/** A failed try of one server during a session's search for one. */
export interface FailedTry {
  readonly server: string;
  readonly error: string;
  readonly code: ErrorCode;
}

/** One session, at its end: protocol-neutral fields every protocol fills. */
export interface SessionEnded {
  readonly protocol: string;
  readonly listener: string;
  readonly client: string;
  readonly request: string | undefined;
  /** The request as sent upstream, when a route rewrote it. */
  readonly upstreamRequest: string | undefined;
  readonly route: string | undefined;
  readonly pool: string | undefined;
  readonly server: string | undefined;
  readonly attempts: readonly FailedTry[];
  readonly durationMs: number;
  /** From the session's start (accept) until the server's first command reached the client (undefined: none did). */
  readonly setupMs: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly outcome: string;
  /** True when the outcome is the protocol's normal end. */
  readonly ok: boolean;
  readonly error: string | undefined;
  /** The stable code of `error` (README "Error codes"). */
  readonly errorCode: ErrorCode | undefined;
  /** A SIP call's own fields (protocol `sip`; `outcome` is then its final status code). */
  readonly sip?: SipCallFields;
  /** An HTTP request's own fields (protocol `http`: one session per request; `outcome` is its status). */
  readonly http?: HttpRequestFields;
}

/** HTTP (issue #14): what one request was and how it was answered, for its access log line. */
export interface HttpRequestFields {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** The status the client got (0: none, the client left or the answer broke off mid-way). */
  readonly status: number;
  /** Who answered: upstream, or the proxy's own page (status_page, 404, 502, 504). */
  readonly by: "upstream" | "proxy";
}

/** What identifies a SIP call and how it ended, for its one log line. */
export interface SipCallFields {
  readonly callId: string;
  readonly from: string;
  readonly to: string;
  /** The final status the caller got; undefined for a call seen only in-dialog (rebuilt). */
  readonly finalCode: number | undefined;
  /** bye, rejected (a final non-2xx), timeout (call_timeout), closed (listener closed). */
  readonly end: string;
}

/** Every event Trunkline publishes; observe/ maps them to logs (and metrics). */
export interface TrunklineEvents {
  "session.start": { readonly protocol: string; readonly listener: string; readonly client: string };
  "session.end": SessionEnded;
  "attempt.failed": {
    readonly protocol: string;
    readonly listener: string;
    readonly pool: string;
    readonly server: string;
    readonly error: string;
  };
  "server.state": ServerChange;
  /**
   * A server's health went down because its checks were refused (health/refusal.ts): nothing
   * listens there. Published on every thread (a worker from the main thread's state), never
   * forwarded: `server.state` already told the main thread.
   */
  "server.gone": { readonly server: string; readonly reason: string };
  "health.probe": {
    readonly server: string;
    readonly pools: readonly string[];
    readonly check: "tcp" | "agent" | "sip-options" | "http";
    readonly ok: boolean;
    readonly durationMs: number;
    readonly reason: string;
    /** Words of an agent reply that mean nothing to HAProxy's grammar. */
    readonly agentErrors?: readonly string[];
    /** The check failed for want of this host's descriptors, buffers or ports: not counted. */
    readonly noVerdict?: true;
  };
  /** A server's event socket (FreeSWITCH ESL) came up, or went down (each failed retry too). */
  "esl.state": {
    readonly server: string;
    readonly pools: readonly string[];
    readonly state: "up" | "down";
    readonly reason: string;
    /** Down: whether the connection had been up (else an attempt failed). */
    readonly wasUp: boolean;
    readonly retryInMs?: number;
  };
  /** A server's event socket sent something unusable (a HEARTBEAT with figures out of range). */
  "esl.warning": {
    readonly server: string;
    readonly pools: readonly string[];
    readonly message: string;
  };
  reload: {
    readonly outcome: "applied" | "unchanged" | "rejected";
    readonly reason: string;
    readonly source: string;
    readonly generation: number;
    readonly error?: string;
    readonly code?: ErrorCode;
  };
  "listener.listening": {
    readonly listener: string;
    readonly protocol: string;
    readonly listen: string;
    readonly port: number | undefined;
    readonly tls: boolean;
    /** Something in its settings an operator should change, said once at start. */
    readonly warning?: string;
  };
  "listener.error": {
    readonly listener: string;
    readonly code: ErrorCode;
    readonly error: string;
    readonly client?: string;
  };
  "listener.tls_reloaded": { readonly listener: string };
  "proxy.started": {
    readonly config: string;
    readonly listeners: number;
    readonly routes: number;
    readonly pools: number;
  };
  "proxy.stopped": Record<string, never>;
  /** At start and at each reload, when the listeners' caps need more descriptors than `ulimit -n`. */
  "proxy.descriptors": {
    readonly need: number;
    readonly limit: number;
    readonly listeners: Readonly<Record<string, number>>;
  };
  /** Worker threads (`workers:`): one started, one died (and was restarted), or a setting not taken. */
  worker: {
    readonly kind: "started" | "exited" | "restart_failed" | "not_started";
    /** 1..N-1 (the main thread is 0); absent for a setting-wide line. */
    readonly worker?: number;
    /** Sessions the dead worker held, given back to their servers' counts. */
    readonly sessions?: number;
    readonly error?: string;
  };
  /** A kernel setting that costs something (what, and how to change it), said once at start. */
  "host.setting": { readonly setting: string; readonly value: string; readonly warning: string };
  /** A SIP datagram or message not taken: malformed, not ours, a bad route token... */
  "sip.dropped": { readonly listener: string; readonly reason: string };
  /** A SIP listener's thread saturated (new calls shed: 503), or no longer (net/load-shed.ts). */
  "sip.overload": {
    readonly listener: string;
    readonly shedding: boolean;
    /** The event loop's utilization in the sample that changed it (0–1). */
    readonly utilization: number;
    /** The utilization configured as saturated. */
    readonly limit: number;
  };
  /** This process's SIP code warmed up at its first start, before its listeners bound (app/sip-warm-up.ts). */
  "sip.warm_up": {
    readonly listener: string;
    readonly calls: number;
    readonly ms: number;
    /** Why it failed (it is then skipped: the listener starts all the same). */
    readonly error?: string;
  };
  /** HTTP: a request hit a passivated route that has wake keys (at most once per route per 5 s). */
  "http.wake": {
    readonly listener: string;
    readonly route: string;
    readonly service: string | undefined;
    readonly keys: readonly string[];
  };
  // etcd as a config source (issue #14): app/config-source.ts and app/cluster.ts.
  /** Where the proxy's etcd content stands: said at start, then on each change of up/down. */
  "etcd.source": {
    readonly state: "up" | "down";
    /** start: how the first config was made (etcd, its cache, or the file alone); change: later. */
    readonly when: "start" | "change";
    readonly endpoints: readonly string[];
    readonly revision: number;
    readonly error?: string;
    /** At start with etcd down: the cache file, and whether its content is in use. */
    readonly cache?: string;
    readonly fromCache?: boolean;
  };
  /** The cache could not be written: a restart with etcd down would start from the file alone. */
  "etcd.cache_error": { readonly cache: string | undefined; readonly error: string };
  /** An etcd key is ignored (reason given), or no longer is (reason absent). */
  "etcd.invalid_key": { readonly key: string; readonly reason?: string };
  /** This proxy's cluster lease was lost: it registers again. */
  "etcd.lease_lost": { readonly id: string; readonly error: string };
  /** A wake key (gogeta's status/expected) was set to started, or could not be (error). */
  "etcd.wake": { readonly key: string; readonly error?: string };
  /** A reload changed `config.etcd`: applied (a new client), kept (the new one cannot read), or restart (removed). */
  "etcd.settings": {
    readonly outcome: "applied" | "kept" | "restart";
    readonly endpoints: readonly string[];
    readonly error?: string;
  };
}

export type Events = import("./bus.ts").EventBus<TrunklineEvents>;
