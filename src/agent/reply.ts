/**
 * HAProxy's agent-check reply line, both directions: the line our agent writes and how
 * HAProxy 2.6 reads one. Pure functions; the grammar is the HAProxy 2.6 configuration
 * manual §5.2 "agent-check" (and src/check.c, agent reply parsing), as measured against
 * HAProxy 2.6.12 in test/e2e/agent-haproxy.test.ts.
 */

export const AGENT_STATUSES = ["UP", "DOWN", "READY", "DRAIN", "FAIL", "MAINT", "STOPPED"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** The agent's state, as stored in the hapgent-compatible state file. */
export interface AgentState {
  status: AgentStatus;
  /** Percentage of the server's configured weight, 0–255. */
  weight?: number;
  /** 0 means unlimited (HAProxy's reading of `maxconn:0`). */
  maxconn?: number;
}

/**
 * The line our agent sends for a state. Every reply names both the health and the admin
 * state, so HAProxy ends in the state the file says whatever it was told before: words
 * that are not sent change nothing in HAProxy, and it applies the admin word first, then
 * weight, then maxconn, then health (reference, "The exchange").
 *
 * - UP, READY → `up ready`: `up` alone leaves an earlier DRAIN or MAINT in place; `ready`
 *   clears it (reference table, "`up` after `drain` stays DRAIN").
 * - DRAIN → `up drain`: drain means "no new traffic, keep what is running", which needs
 *   the server up; a bare `drain` after a `down` would leave it down and drained.
 * - MAINT → `maint`: maintenance stops HAProxy's checks, so a health word means nothing.
 * - DOWN, FAIL, STOPPED → `down ready` (etc.): without `ready`, a DOWN sent after MAINT
 *   would leave HAProxy showing MAINT, and one sent after DRAIN would keep the drain
 *   flag. Since `ready` is applied before the health word within one reply, the server
 *   ends DOWN and not in maintenance.
 *
 * The cost of naming the admin state in every reply: an operator's `set server … state
 * maint` on HAProxy's own CLI is undone on the next poll. The agent owns the admin state;
 * change it with `trunkline agent set`.
 *
 * Weight and maxconn are sent only when set (hapgent's behaviour); HAProxy then keeps the
 * last value it was given, so `--weight 100` restores the configured weight.
 */
export function formatAgentReply(state: AgentState): string {
  const words: string[] = [];
  switch (state.status) {
    case "UP":
    case "READY":
      words.push("up", "ready");
      break;
    case "DRAIN":
      words.push("up", "drain");
      break;
    case "MAINT":
      words.push("maint");
      break;
    case "DOWN":
    case "FAIL":
    case "STOPPED":
      words.push(state.status.toLowerCase(), "ready");
      break;
  }
  if (state.weight !== undefined) words.push(`${state.weight}%`);
  if (state.maxconn !== undefined) words.push(`maxconn:${state.maxconn}`);
  return `${words.join(" ")}\n`;
}

/** What one agent reply tells HAProxy; absent fields change nothing. */
export interface AgentReport {
  health?: "up" | "down" | "fail" | "stopped";
  admin?: "ready" | "drain" | "maint";
  /** Raw percentage as sent; HAProxy applies `configured weight × p / 100`, capped at 256. */
  weightPercent?: number;
  /** 0 means unlimited. */
  maxconn?: number;
  /** Free text after a word starting with `#`, trimmed. */
  description?: string;
  /** Words HAProxy would log as `agent reports an error : <word>` and ignore. */
  errors: string[];
}

/** HAProxy reads one line; we look no further than this many bytes for its end. */
export const AGENT_REPLY_MAX_BYTES = 1024;

/** Index of the first CR or LF within the bound, or -1. */
export function agentLineEnd(bytes: Buffer): number {
  const n = Math.min(bytes.length, AGENT_REPLY_MAX_BYTES);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0x0a || b === 0x0d) return i;
  }
  return -1;
}

const WORD_SEPARATOR = /[ \t,]+/;

/**
 * Reads a reply as HAProxy 2.6 does. Returns undefined when no CR/LF ends the line within
 * the first KiB: HAProxy ignores a reply without a line end, even if the agent closes.
 */
export function parseAgentReply(input: Buffer | string): AgentReport | undefined {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const end = agentLineEnd(bytes);
  if (end < 0) return undefined;
  const line = bytes.subarray(0, end).toString("utf8");
  const report: AgentReport = { errors: [] };
  // A word starting with `#` begins the description, which runs to the end of the line;
  // a `#` elsewhere in a word is an ordinary character.
  const hash = /(^|[ \t,])#/.exec(line);
  const wordsPart = hash ? line.slice(0, hash.index + hash[1]!.length) : line;
  if (hash) report.description = line.slice(hash.index + hash[0].length).trim();
  for (const word of wordsPart.split(WORD_SEPARATOR)) {
    if (word === "") continue;
    const w = word.toLowerCase();
    // Several words of one kind: the last wins.
    if (w === "up" || w === "down" || w === "fail" || w === "stopped") report.health = w;
    else if (w === "ready" || w === "drain" || w === "maint") report.admin = w;
    else if (/^\d+%$/.test(w)) report.weightPercent = bounded(w.slice(0, -1));
    else if (/^maxconn:\d+$/.test(w)) report.maxconn = bounded(w.slice("maxconn:".length));
    else report.errors.push(word);
  }
  return report;
}

/** The most a weight percentage or maxconn is read as: a reply of 400 digits is not Infinity. */
export const AGENT_NUMBER_MAX = 1_000_000_000;

/** Digits as a number, at most AGENT_NUMBER_MAX (what no weight or connection cap exceeds). */
function bounded(digits: string): number {
  return Math.min(Number(digits), AGENT_NUMBER_MAX);
}
