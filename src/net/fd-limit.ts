import { readFileSync } from "node:fs";

/**
 * The soft limit on open files of this process (`ulimit -n`; Node raises it to the hard
 * limit at start), from Linux's /proc/self/limits. Undefined where that file does not exist
 * or says `unlimited`: then there is nothing to check against.
 */
export function openFilesLimit(
  read: () => string = () => readFileSync("/proc/self/limits", "latin1"),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const line = text.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  return Number(soft);
}
