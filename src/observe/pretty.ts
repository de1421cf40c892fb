/**
 * One human line per JSON log record, for a terminal: `12:00:00.123 WARN  msg  key=value …`.
 * Pure; the JSON line is what syslog and files get, this only changes what a person reads.
 */
import { TERMINAL_UNSAFE } from "../core/terminal.ts";

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};
const COLOURS: Record<number, string> = { 10: "90", 20: "90", 30: "32", 40: "33", 50: "31", 60: "35" };
const SKIP = new Set(["level", "severity", "time", "app", "pid", "msg"]);

const UNSAFE = TERMINAL_UNSAFE;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g");

/** Every unsafe character as a `\uXXXX` escape. */
function defang(text: string): string {
  return UNSAFE.test(text)
    ? text.replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    : text;
}

function value(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) && !UNSAFE.test(v) ? v : defang(JSON.stringify(v));
  return defang(JSON.stringify(v) ?? String(v));
}

export function prettyLine(line: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  const lvl = typeof rec.level === "number" ? rec.level : 30;
  const time = typeof rec.time === "string" ? rec.time.slice(11, 23) : "";
  const label = LEVELS[lvl] ?? String(lvl);
  const head = colour ? `\x1b[${COLOURS[lvl] ?? "0"}m${label}\x1b[0m` : label;
  const fields = Object.entries(rec)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(" ");
  return `${time} ${head} ${defang(String(rec.msg ?? ""))}${fields ? `  ${fields}` : ""}\n`;
}
