import type { ServerChange } from "../balance/server-state.ts";
import type { Log } from "../core/types.ts";
import type { SessionRecord } from "../protocols/fastagi/session.ts";

/** One line per session at its end: who, what, where, how long, how much, how it ended. */
export function logSession(log: Log, r: SessionRecord): void {
  const fields: Record<string, unknown> = {
    event: "session",
    client: r.client,
    listener: r.listener,
    request: r.request,
    route: r.route,
    pool: r.pool,
    server: r.server,
    duration_ms: r.durationMs,
    bytes_in: r.bytesIn,
    bytes_out: r.bytesOut,
    outcome: r.outcome,
  };
  if (r.upstreamRequest !== undefined) fields.upstream_request = r.upstreamRequest;
  if (r.attempts.length > 0) fields.failed_attempts = r.attempts;
  if (r.error !== undefined) fields.error = r.error;
  if (r.outcome === "completed") log.info(fields, "session ended");
  else log.warn(fields, "session ended");
}

/** Server state changes are logged once each, with the reason. */
export function logServerChange(log: Log, c: ServerChange): void {
  const fields = {
    event: "server_state",
    pool: c.pool,
    server: c.server,
    what: c.what,
    from: c.from,
    to: c.to,
    reason: c.reason,
  };
  const bad = (c.what === "health" || c.what === "passive") && c.to === "down";
  if (bad) log.warn(fields, `server ${c.server} in pool ${c.pool} is down`);
  else log.info(fields, `server ${c.server} in pool ${c.pool}: ${c.what} ${c.from} -> ${c.to}`);
}
