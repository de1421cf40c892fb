/**
 * The pid file of `trunkline run --pid-file P`: how a successor (`run --takeover`) and
 * systemd (`PIDFile=`) find the running proxy. One decimal pid and a newline, as both expect.
 */

import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Writes the pid atomically (a temp file beside it, then rename): a reader sees the old
 * content or the new, never a partial line. Throws the fs error.
 */
export function writePidFile(path: string, pid: number = process.pid): void {
  const tmp = join(dirname(path), `.${basename(path)}.${pid}.tmp`);
  try {
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export type PidFileContent =
  | { readonly kind: "pid"; readonly pid: number }
  | { readonly kind: "missing" }
  | { readonly kind: "invalid"; readonly text: string };

/** The pid a file holds; a missing file or anything but one positive integer says so. */
export function readPidFile(path: string): PidFileContent {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    throw err;
  }
  const t = text.trim();
  const pid = /^[1-9][0-9]{0,9}$/.test(t) ? Number(t) : Number.NaN;
  return Number.isSafeInteger(pid) ? { kind: "pid", pid } : { kind: "invalid", text: t.slice(0, 40) };
}

/**
 * Removes the pid file at exit if it still names this process; after a takeover it names
 * the successor, whose file it is now. Never throws: exiting goes on either way.
 */
export function removePidFileIfOurs(path: string, pid: number = process.pid): boolean {
  try {
    const c = readPidFile(path);
    if (c.kind !== "pid" || c.pid !== pid) return false;
    rmSync(path, { force: true });
    return true;
  } catch {
    return false;
  }
}
