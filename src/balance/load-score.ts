/**
 * Load scores of FreeSWITCH boxes from their event-socket HEARTBEATs, the way OpenSIPS'
 * load_balancer scores them: `100 × Idle-CPU/100 × (1 − sessions/Max-Sessions)`, in [0, 100],
 * higher is better. Pure: the caller keeps the last report and the counts.
 *
 * Heartbeats come every 20 s, so a report alone would send every call of those 20 s to the
 * box that looked best at the last one (herding). The session count therefore adds the calls
 * routed there since the report, and never goes below our own count of live calls there.
 */

import type { EslHeartbeatReport } from "../health/esl/heartbeat.ts";
import type { Balanceable } from "./types.ts";

/** The figures of a heartbeat that scoring reads; an EslHeartbeatReport is one. */
export type HeartbeatLoad = Pick<EslHeartbeatReport, "sessionCount" | "idleCpu" | "at"> & {
  /** 0 or absent: no ceiling (the score is then Idle-CPU alone). */
  readonly maxSessions?: number | undefined;
};

export interface LoadInput {
  /** The last heartbeat of the server; undefined when none came yet. */
  readonly report: HeartbeatLoad | undefined;
  /** Calls sent to the server since `report.at` (reset to 0 on each heartbeat). */
  readonly routedSince: number;
  /** Our own count of live calls on the server (the pool's `active`). */
  readonly active: number;
  /** Our clock, on the same scale as `report.at`. */
  readonly now: number;
  /** A report older than this is stale: 2-3 heartbeat intervals (40-60 s by default). */
  readonly maxAgeMs: number;
}

export type LoadScore =
  | {
      readonly known: true;
      /** In [0, 100]; 0 when full. */
      readonly score: number;
      /** The session figure scored: max(Session-Count + routedSince, active). */
      readonly sessions: number;
      /**
       * Why the server is out of rotation, if it is: "own" when our own live calls reach
       * Max-Sessions (certain), "report" when only the report plus the calls sent since say so.
       */
      readonly full: "own" | "report" | undefined;
    }
  | { readonly known: false; readonly reason: "no_report" | "stale" | "bad_report" };

const ok = (n: number) => Number.isFinite(n) && n >= 0;

/**
 * The score of one server. Unknown (the caller falls back to least-sessions) when there is
 * no report, when it is older than `maxAgeMs`, or when a figure is not a finite number ≥ 0.
 * Idle-CPU above 100 counts as 100.
 */
export function loadScore(input: LoadInput): LoadScore {
  const { report, routedSince, active, now, maxAgeMs } = input;
  if (report === undefined) return { known: false, reason: "no_report" };
  const max = report.maxSessions ?? 0;
  if (![report.sessionCount, report.idleCpu, max, routedSince, active].every(ok) || Number.isNaN(report.at))
    return { known: false, reason: "bad_report" };
  if (!(now - report.at <= maxAgeMs)) return { known: false, reason: "stale" };
  const sessions = Math.max(report.sessionCount + routedSince, active);
  const idle = Math.min(report.idleCpu, 100) / 100;
  if (max === 0) return { known: true, score: 100 * idle, sessions, full: undefined };
  if (sessions >= max) return { known: true, score: 0, sessions, full: active >= max ? "own" : "report" };
  return { known: true, score: 100 * idle * (1 - sessions / max), sessions, full: undefined };
}

export type LoadPick<S> =
  /** The highest score. */
  | { readonly by: "score"; readonly server: S }
  /** Every candidate scored 0: the fewest live calls among those not full by our own count. */
  | { readonly by: "not_starved"; readonly server: S }
  /**
   * Some candidate has no fresh report: scores cannot be compared, use least-sessions over
   * `usable` (the candidates with a weight, less those full by our own count).
   */
  | { readonly by: "unknown"; readonly usable: readonly S[] }
  /** No candidate with a weight, or every one full by our own count. */
  | { readonly by: "none" };

/**
 * Chooses among candidates (already filtered to servers that may take a call, in config
 * order; weight 0 is skipped as by every balancer). The highest score wins; equal scores go
 * to fewer live calls, then to the earlier in config order.
 *
 * Don't starve: when every candidate scores 0, a report-driven balancer would refuse every
 * call until the next heartbeat, 20 s of 480s or 503s while the figures may be stale or
 * inflated by calls that have since ended (the "never mark every server down at once" lesson).
 * So the call still goes, to the fewest live calls among candidates not full by our own count
 * (a box truly at Max-Sessions answers 503 at once and the attempt loop tries the next). Only
 * when every candidate is full by our own count, which we know for certain, is there none.
 *
 * Any unknown score makes the whole pick "unknown" rather than ranking unknown servers
 * above or below scored ones: a score and a session count are not on one scale, and a stale
 * report is rare (a heartbeat late by 2-3 intervals), so least-sessions for the pool is the
 * safe, simple fallback; a server known to be full by our own count stays out of it.
 */
export function pickLeastLoaded<S extends Balanceable>(
  candidates: readonly S[],
  scoreOf: (server: S) => LoadScore,
): LoadPick<S> {
  const scored: { server: S; score: number; full: "own" | "report" | undefined }[] = [];
  const usable: S[] = [];
  let unknown = false;
  for (const server of candidates) {
    if (!(server.weight > 0)) continue;
    const s = scoreOf(server);
    if (!s.known) unknown = true;
    else scored.push({ server, score: s.score, full: s.full });
    if (!s.known || s.full !== "own") usable.push(server);
  }
  if (unknown) return { by: "unknown", usable };
  let best: (typeof scored)[number] | undefined;
  for (const c of scored)
    if (
      c.score > 0 &&
      (!best || c.score > best.score || (c.score === best.score && c.server.active < best.server.active))
    )
      best = c;
  if (best) return { by: "score", server: best.server };
  let fallback: S | undefined;
  for (const c of scored)
    if (c.full !== "own" && (!fallback || c.server.active < fallback.active)) fallback = c.server;
  return fallback ? { by: "not_starved", server: fallback } : { by: "none" };
}
