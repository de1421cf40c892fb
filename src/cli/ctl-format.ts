/** Human tables for `trunkline ctl`: the admin API's JSON views, aligned for a terminal. */
import { TERMINAL_UNSAFE } from "../core/terminal.ts";
import type { PoolView, ServerView, SessionView, StatusView } from "../observe/admin/types.ts";

const UNSAFE_ALL = new RegExp(TERMINAL_UNSAFE.source, "g");

/**
 * Requests, client addresses and reasons come from the network: a control byte, a line
 * separator or a bidi control in them must not reach the operator's terminal raw (C0 and C1
 * as `\xNN`, the others as `\uNNNN`).
 */
export function clean(v: string): string {
  return v.replace(UNSAFE_ALL, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}

/** Columns padded to their widest cell, two spaces apart; the last is not padded (no trailing blanks). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** `key: value` lines with the values aligned. */
function pairs(list: readonly (readonly [string, string])[]): string {
  const w = Math.max(...list.map(([k]) => k.length)) + 1;
  return list.map(([k, v]) => `${`${k}:`.padEnd(w)} ${clean(v)}\n`).join("");
}

/** A short duration for a human: 850ms, 12.3s, 5m 03s, 2h 05m, 3d 04h. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1_000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const two = (n: number) => String(Math.floor(n)).padStart(2, "0");
  if (s < 3_600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${two((s % 3_600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${two((s % 86_400) / 3_600)}h`;
}

export function formatStatus(s: StatusView): string {
  const r = s.last_reload;
  const reload = r ? `${r.at} ${r.outcome} (${r.reason})${r.code ? ` ${r.code}` : ""}` : "none since start";
  let out = pairs([
    ["version", s.version],
    ["pid", String(s.pid)],
    ["uptime", duration(s.uptime_s * 1_000)],
    ["config", s.config.source],
    ["digest", s.config.digest],
    ["generation", String(s.generation)],
    ["last reload", reload],
  ]);
  for (const e of r?.errors ?? []) out += `  ${clean(e)}\n`;
  if (s.listeners.length === 0) return `${out}\nno listeners\n`;
  return `${out}\n${table(
    ["LISTENER", "PROTOCOL", "LISTEN", "PORT", "TLS", "ACTIVE", "PENDING"],
    s.listeners.map((l) => [
      l.name,
      l.protocol,
      l.listen,
      l.port === null ? "-" : String(l.port),
      l.tls ? "yes" : "no",
      String(l.sessions_active),
      String(l.pending),
    ]),
  )}`;
}

const SERVER_HEADER = ["POOL", "ADDRESS", "STATE", "LAYER", "WEIGHT", "ACTIVE/MAX", "TOTAL", "FAILURES"];

function serverRow(pool: string, s: ServerView): string[] {
  return [
    pool,
    s.address,
    s.state,
    s.admin_layer,
    s.backup ? `${s.weight} backup` : String(s.weight),
    // max_sessions 0 is "no maximum" (README, pools.NAME.servers[].max_sessions).
    `${s.active}/${s.max_sessions === 0 ? "-" : s.max_sessions}`,
    String(s.total),
    String(s.connect_failures),
  ];
}

/** One line per server, whatever pool it is in (a server in two pools shows twice, once per pool). */
export function formatPools(pools: readonly PoolView[]): string {
  const rows = pools.flatMap((p) => p.servers.map((s) => serverRow(p.name, s)));
  return rows.length === 0 ? "no servers\n" : table(SERVER_HEADER, rows);
}

/** The server as a change left it. */
export function formatServer(pool: string, s: ServerView): string {
  return table(SERVER_HEADER, [serverRow(pool, s)]);
}

export function formatSessions(sessions: readonly SessionView[]): string {
  if (sessions.length === 0) return "no sessions in flight\n";
  return table(
    ["CLIENT", "LISTENER", "REQUEST", "SERVER", "AGE", "BYTES(IN/OUT)"],
    sessions.map((s) => [
      s.client,
      s.listener,
      s.request ?? "-",
      s.server ?? "-",
      duration(s.age_ms),
      `${s.bytes_in}/${s.bytes_out}`,
    ]),
  );
}
