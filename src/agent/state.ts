import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { errorMessage } from "../core/errors.ts";
import { AGENT_STATUSES, type AgentState, type AgentStatus } from "./reply.ts";

export const STATUSES = AGENT_STATUSES;
export type Status = AgentStatus;

/** The state the hapgent seed falls back to when its file cannot be read or is not valid. */
export const FALLBACK_STATE: AgentState = Object.freeze({ status: "MAINT" });

/**
 * Validates a state object (the hapgent state file format): `status` required, `weight`
 * 0–255 and `maxconn` 0–65535 optional integers. Unknown keys are rejected so a typo
 * (`"wieght"`) does not silently leave a server at full weight.
 */
export function validateState(data: unknown): AgentState | string {
  if (typeof data !== "object" || data === null || Array.isArray(data))
    return "the state must be a JSON object";
  const o = data as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== "status" && k !== "weight" && k !== "maxconn") return `unknown key "${k}"`;
  if (typeof o.status !== "string" || !(STATUSES as readonly string[]).includes(o.status)) {
    return `status must be one of ${STATUSES.join(", ")}`;
  }
  const state: AgentState = { status: o.status as Status };
  if (o.weight !== undefined) {
    if (!Number.isInteger(o.weight) || (o.weight as number) < 0 || (o.weight as number) > 255)
      return "weight must be an integer from 0 to 255";
    state.weight = o.weight as number;
  }
  if (o.maxconn !== undefined) {
    if (!Number.isInteger(o.maxconn) || (o.maxconn as number) < 0 || (o.maxconn as number) > 65535)
      return "maxconn must be an integer from 0 to 65535";
    state.maxconn = o.maxconn as number;
  }
  return state;
}

export function readStateFile(path: string): { ok: true; state: AgentState } | { ok: false; reason: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return { ok: false, reason: `cannot read ${path}: ${errorMessage(err)}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `${path} is not JSON: ${errorMessage(err)}` };
  }
  const v = validateState(data);
  return typeof v === "string" ? { ok: false, reason: `${path}: ${v}` } : { ok: true, state: v };
}

/**
 * Saves the state so that a crash at any moment leaves either the old file or the new one:
 * write a temporary file in the same folder, fsync it, rename it over the old one, fsync
 * the folder (rename(2) is atomic; the folder fsync makes the rename itself durable).
 */
export function saveStateAtomic(path: string, state: AgentState): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const body = `${JSON.stringify(state)}\n`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}
