/** What the admin API shows and changes: JSON views, and the model it reads them from. */

export interface ListenerView {
  readonly name: string;
  readonly protocol: string;
  readonly listen: string;
  readonly port: number | null;
  readonly tls: boolean;
  readonly sessions_active: number;
  readonly pending: number;
}

export interface StatusView {
  readonly version: string;
  readonly pid: number;
  readonly uptime_s: number;
  readonly config: { readonly source: string; readonly digest: string };
  readonly generation: number;
  readonly last_reload: {
    readonly at: string;
    readonly outcome: "applied" | "unchanged" | "rejected";
    readonly reason: string;
    readonly error?: string;
    readonly errors?: readonly string[];
    readonly code?: string;
  } | null;
  readonly listeners: readonly ListenerView[];
  readonly routes: readonly RouteView[];
  /** Where the config comes from: the file, or the file and etcd. */
  readonly config_source: ConfigSourceView;
  /** Threads running listeners when `workers:` is above 1 (0 is the main thread); else empty. */
  readonly workers: readonly {
    readonly worker: number;
    readonly alive: boolean;
    readonly sessions_active: number;
    readonly sessions_started: number;
    readonly restarts: number;
  }[];
}

export interface ConfigSourceView {
  readonly kind: "file" | "etcd";
  readonly endpoints: readonly string[];
  readonly prefix: string | null;
  /** etcd answering and watched (the file: always up). */
  readonly state: "up" | "down";
  /** The etcd revision of the content in use. */
  readonly revision: number | null;
  /** etcd has not answered since start: its content comes from the local cache. */
  readonly from_cache: boolean;
  readonly last_error: string | null;
  /** etcd keys ignored, with why (`etcd:<key> path: message`). */
  readonly invalid_keys: readonly { readonly key: string; readonly reason: string }[];
}

/** One proxy of the cluster sharing an etcd (GET /api/v1/cluster). */
export interface ClusterMemberView {
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  readonly admin: string | null;
  readonly revision: number;
  readonly digest: string;
  readonly started_at: string;
  /** This proxy (the one answering). */
  readonly self: boolean;
}

/** GET /api/v1/cluster: a page of the proxies, in order of id. */
export interface ClusterPage {
  /** This proxy's id. */
  readonly id: string;
  /** The proxies registered now, all pages together. */
  readonly total: number;
  readonly proxies: readonly ClusterMemberView[];
  /** The last id of this page, for `?after=`, while more follow; null on the last page. */
  readonly next: string | null;
}

export interface RouteView {
  readonly name: string;
  readonly listener: string;
  readonly protocol: string;
  readonly match: string;
  readonly action: string;
}

export interface ServerView {
  readonly address: string;
  /** Effective: maint, drain, down or up (in that order of precedence). */
  readonly state: "up" | "down" | "drain" | "maint";
  /** The layer that decides the admin state (config, agent, operator). */
  readonly admin_layer: string;
  readonly weight: number;
  readonly backup: boolean;
  readonly max_sessions: number;
  readonly active: number;
  readonly total: number;
  readonly connect_failures: number;
  readonly failovers: number;
  readonly layers: {
    readonly config: { readonly weight: number; readonly max_sessions: number };
    readonly health: {
      readonly state: "up" | "down";
      readonly reason: string;
      readonly last_probe: { readonly ok: boolean; readonly at: string; readonly reason: string } | null;
    };
    readonly passive: { readonly down_until: string | null; readonly consecutive_failures: number };
    readonly agent: {
      readonly admin: string | null;
      readonly weight_percent: number;
      readonly maxconn: number;
      readonly down: string | null;
    };
    /** FreeSWITCH's event socket (SIP servers with `esl:`): its last HEARTBEAT and whether it went quiet. */
    readonly esl: {
      readonly down: string | null;
      readonly report: {
        readonly session_count: number;
        readonly max_sessions: number;
        readonly idle_cpu: number;
        readonly at: string;
        /** Calls sent to it since that report (the herding correction). */
        readonly routed_since: number;
      } | null;
    } | null;
    readonly operator: { readonly admin: string | null; readonly weight: number | null };
  };
  readonly last_change: {
    readonly at: string;
    readonly layer: string;
    readonly what: string;
    readonly from: string;
    readonly to: string;
    readonly reason: string;
  } | null;
}

export interface PoolView {
  readonly name: string;
  readonly protocol: string;
  readonly balance: string;
  readonly servers: readonly ServerView[];
}

export interface SessionView {
  readonly client: string;
  readonly listener: string;
  readonly protocol: string;
  readonly request: string | null;
  readonly route: string | null;
  readonly pool: string | null;
  readonly server: string | null;
  readonly started_at: string;
  readonly age_ms: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
}

/** An operator change of one server: drain, maint, ready (lifts the operator's state), weight. */
export type OperatorAction =
  | { readonly kind: "drain" | "maint" | "ready" }
  | { readonly kind: "weight"; readonly weight: number | null };

export type ChangeResult =
  | { readonly ok: true; readonly server: ServerView }
  | { readonly ok: false; readonly status: 404 | 503; readonly message: string };

export type ReloadOutcome =
  | { readonly ok: true; readonly outcome: "applied" | "unchanged"; readonly generation: number }
  | { readonly ok: false; readonly errors: readonly string[]; readonly code: string };

/** What the admin API needs of the proxy; app/ implements it. */
export interface AdminModel {
  status(): StatusView;
  pools(): PoolView[];
  pool(name: string): PoolView | undefined;
  sessions(limit: number): SessionView[];
  /** Async when the change goes through etcd (every proxy of the cluster applies it). */
  change(
    pool: string,
    address: string,
    action: OperatorAction,
    reason: string,
  ): ChangeResult | Promise<ChangeResult>;
  /** The cluster's proxies; undefined when etcd is not the source. */
  cluster?(): { readonly id: string; readonly proxies: readonly ClusterMemberView[] };
  reload(reason: string): Promise<ReloadOutcome>;
  metrics?(): Promise<{ readonly contentType: string; readonly body: string }>;
}
