/**
 * The pid file of `trunkline run --pid-file P`: how a successor (`run --takeover`) and
 * systemd (`PIDFile=`) find the running proxy. One decimal pid and a newline, as both expect.
 */

import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { readRegularFile } from "../core/read-file.ts";

/**
 * Writes the pid atomically (a temp file beside it, then rename): a reader sees the old
 * content or the new, never a partial line. The temp file is created exclusively (O_EXCL):
 * its name is predictable, and a symlink planted there must not make us write through it
 * into the file it points to. Throws the fs error.
 */
export function writePidFile(path: string, pid: number = process.pid): void {
  const tmp = join(dirname(path), `.${basename(path)}.${pid}.tmp`);
  try {
    // A leftover of a crash (or a planted link) goes first; the link itself, not its target.
    rmSync(tmp, { force: true });
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644, flag: "wx" });
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
    // A FIFO or a device in its place is refused, not waited on or read without end.
    text = readRegularFile(path, 64).toString("utf8");
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
