/** Types of the server registry, apart from its code. */

export type Health = "up" | "down";
export type Admin = "ready" | "drain" | "maint";

/**
 * Where a piece of a server's state comes from. Each layer is written by one party only, and
 * the effective state reads them in this order, a later layer winning:
 * - config: `max_sessions` (from the pools that list it);
 * - health: active checks (rise/fall);
 * - esl: the server's own event socket (FreeSWITCH): its load reports, and down while the
 *   connection is lost or its heartbeats stop. Apart from `health` so that a passing OPTIONS
 *   ping cannot undo a silent event socket, nor a heartbeat a failing ping;
 * - passive: connect failures of real sessions (`max_fails`/`fail_timeout`);
 * - agent: what the server's agent-check agent said (admin, weight %, maxconn, down);
 * - operator: drain/maint/ready/weight from the admin API, kept until lifted.
 */
export type Layer = "config" | "health" | "esl" | "passive" | "agent" | "operator";

/**
 * The load a server reports about itself (FreeSWITCH's HEARTBEAT through its event socket):
 * an EslHeartbeatReport is one. `at` is our clock when it came.
 */
export interface LoadReport {
  readonly sessionCount: number;
  readonly maxSessions: number;
  readonly idleCpu: number;
  readonly at: number;
}

/** A change worth one log line: health, admin state, weight or cap, with the layer that made it. */
export interface ServerChange {
  /** The pools the server is in now (config order); empty for a server that left the config. */
  readonly pools: readonly string[];
  readonly server: string;
  readonly layer: Layer;
  readonly what: "health" | "admin" | "weight" | "maxconn" | "passive";
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

export type ChangeSink = (change: ServerChange) => void;

/** What the operator set (admin API, `trunkline ctl`): kept until the operator lifts it. */
export interface OperatorOverride {
  readonly admin: Admin | undefined;
  /** Absolute weight for every pool the server is in (HAProxy's `set server … weight`). */
  readonly weight: number | undefined;
}

/** The outcome of one try of a server, as the protocol judged it: feeds passive health. */
export type TryOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };
