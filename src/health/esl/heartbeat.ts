/**
 * What a FreeSWITCH HEARTBEAT says about load: the numbers OpenSIPS' load_balancer scores
 * boxes by (`Idle-CPU/100 × (1 − Session-Count/Max-Sessions)`), and the current call rate.
 * Pure: from the decoded headers of a `text/event-plain` event.
 */

export interface EslHeartbeatReport {
  /** Calls (sessions) up now. */
  readonly sessionCount: number;
  /** The configured session ceiling (`max-sessions`). */
  readonly maxSessions: number;
  /** Idle CPU in percent, a float (FreeSWITCH sends e.g. `97.633333`). */
  readonly idleCpu: number;
  /** Sessions started in the last second. `Session-Per-Sec` is the configured budget, not a rate. */
  readonly sessionsPerSecLast?: number;
  readonly hostname?: string;
  /** Our clock when the frame was read (ms, from the client's `now`). */
  readonly at: number;
}

export type HeartbeatParse = { ok: true; report: EslHeartbeatReport } | { ok: false; reason: string };

function num(headers: ReadonlyMap<string, string>, name: string): number | undefined | string {
  const raw = headers.get(name);
  if (raw === undefined) return undefined;
  const n = raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : `${name} is not a number: ${JSON.stringify(raw.slice(0, 40))}`;
}

/**
 * The load figures of a HEARTBEAT. Session-Count, Max-Sessions and Idle-CPU are required
 * (a load balancer cannot score without them); Session-Per-Sec-Last (absent before
 * FreeSWITCH 1.6) and FreeSWITCH-Hostname are kept when present and well formed.
 */
export function parseHeartbeat(headers: ReadonlyMap<string, string>, at: number): HeartbeatParse {
  const sessionCount = num(headers, "Session-Count");
  const maxSessions = num(headers, "Max-Sessions");
  const idleCpu = num(headers, "Idle-CPU");
  for (const [name, v] of [
    ["Session-Count", sessionCount],
    ["Max-Sessions", maxSessions],
    ["Idle-CPU", idleCpu],
  ] as const) {
    if (v === undefined) return { ok: false, reason: `heartbeat without ${name}` };
    if (typeof v === "string") return { ok: false, reason: `heartbeat: ${v}` };
  }
  const perSec = num(headers, "Session-Per-Sec-Last");
  const hostname = headers.get("FreeSWITCH-Hostname");
  return {
    ok: true,
    report: {
      sessionCount: sessionCount as number,
      maxSessions: maxSessions as number,
      idleCpu: idleCpu as number,
      ...(typeof perSec === "number" ? { sessionsPerSecLast: perSec } : {}),
      ...(hostname !== undefined && hostname !== "" ? { hostname } : {}),
      at,
    },
  };
}
