import { isatty } from "node:tty";
import { pino } from "pino";
import { errorMessage } from "../core/errors.ts";
import type { Log, RecordFn } from "../core/types.ts";
import { LineSink, type LineSinkStats } from "./line-sink.ts";
import { prettyLine } from "./pretty.ts";
import { SyslogSink, type SyslogStats } from "./syslog.ts";
import { type SyslogTarget, severityOf } from "./syslog-format.ts";

export type Level = "trace" | "debug" | "info" | "warn" | "error";

export interface SyslogSettings {
  readonly target: SyslogTarget;
  /** 0–23 (FACILITIES in syslog-format.ts). */
  readonly facility: number;
}

export interface LoggerOptions {
  readonly level: Level;
  /** `app` in every JSON line and APP-NAME in syslog; "trunkline" by default. */
  readonly appName?: string;
  readonly syslog?: SyslogSettings;
  /** Where the JSON lines go: a stream, or a file descriptor (1, stdout, by default). */
  readonly destination?: NodeJS.WritableStream | number;
  /**
   * One human line per record instead of JSON (syslog still gets JSON). Default: when the
   * destination is stdout and stdout is a terminal; TRUNKLINE_LOG_FORMAT=json|pretty decides.
   */
  readonly pretty?: boolean;
}

export interface Logger {
  readonly log: Log;
  /**
   * The same line as `log.info(fields, msg)` / `log.warn(...)`, byte for byte, without pino's
   * per-call work: the time string is made once per millisecond and the fields go through
   * one JSON.stringify. For the one line per session (measured: 4-5% of a FastAGI session's
   * CPU, 0.236 -> 0.226 ms, medians of 5 alternating rounds).
   */
  readonly record: RecordFn;
  setLevel(level: Level): void;
  /**
   * Applies a reloaded config: the level, and the syslog target or facility. A new target
   * gets a new sink at once; the old one flushes its queue in the background (bounded), so
   * no record is lost to the swap. Never throws.
   */
  reconfigure(opts: Pick<LoggerOptions, "level" | "syslog">): void;
  /** The current syslog sink's counters, if syslog is configured. */
  syslogStats(): SyslogStats | undefined;
  /** The counters of the batched writing to a file descriptor, when that is the destination. */
  stdoutStats(): LineSinkStats | undefined;
  /** Syslog records given up since start, by every sink a reload replaced as well as the current one. */
  syslogDropped(): number;
  /** Flushes syslog (bounded, about 1 s) and stops sending to it. Idempotent. */
  close(): Promise<void>;
}

/** The pino destination interface, plus the metadata pino hands to streams that ask for it. */
interface FanOut {
  write(line: string): void;
  lastLevel: number;
  lastObj: unknown;
}

function sameSyslog(a: SyslogSink | undefined, b: SyslogSettings | undefined): boolean {
  if (a === undefined || b === undefined) return a === undefined && b === undefined;
  const t = a.target;
  return (
    t.transport === b.target.transport &&
    t.host === b.target.host &&
    t.port === b.target.port &&
    a.facility === b.facility
  );
}

/**
 * JSON lines on stdout (pino) and, if configured, every record again to syslog.
 *
 * stdout is written in batches (line-sink.ts: one write(2) per 64 KiB or 25 ms, not one per
 * line), and whatever is queued is written synchronously at exit, so the lines just before
 * an exit or an uncaught exception are never lost. A reader that stops reading a blocking
 * stdout stalls the process, as with any program; syslog, which is remote, never can.
 *
 * Syslog MSG is the very same compact JSON line, so one parser serves both outputs;
 * MSGID is the record's `event` field when it has one (RFC 5424 §6.2.7: the type of
 * message), and the severity follows the pino level (severityOf).
 *
 * Components keep child loggers for their lifetime; pino 10 children follow the root's
 * level unless given their own, so setLevel() and reconfigure() reach them too (tested).
 */
export function createLogger(opts: LoggerOptions): Logger {
  const appName = opts.appName ?? "trunkline";
  let closed = false;
  const closing = new Set<Promise<void>>();

  const makeSink = (s: SyslogSettings | undefined): SyslogSink | undefined =>
    s ? new SyslogSink({ target: s.target, facility: s.facility, appName }) : undefined;
  let sink = makeSink(opts.syslog);

  const fdSink =
    opts.destination === undefined || typeof opts.destination === "number"
      ? new LineSink(opts.destination ?? 1)
      : undefined;
  const out: { write(line: string): unknown } = fdSink ?? (opts.destination as NodeJS.WritableStream);

  const pretty = opts.pretty ?? wantPretty(opts.destination);
  const colour = pretty && opts.destination === undefined && process.stdout.isTTY === true;
  const fanOut: FanOut & { [k: symbol]: boolean } = {
    // pino sets lastLevel/lastObj on a destination with this symbol before each write.
    [Symbol.for("pino.metadata")]: true,
    lastLevel: 30,
    lastObj: undefined,
    write(line: string) {
      try {
        out.write(pretty ? prettyLine(line, colour) : line);
      } catch {
        // A closed or broken stdout must not take a session down with it.
      }
      const s = sink;
      if (s === undefined) return;
      const event = (fanOut.lastObj as { event?: unknown } | undefined)?.event;
      s.write(
        severityOf(fanOut.lastLevel),
        line.endsWith("\n") ? line.slice(0, -1) : line,
        typeof event === "string" ? event : undefined,
      );
    },
  };

  const root = pino(
    {
      level: opts.level,
      base: { app: appName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label, number) => ({ level: number, severity: label }) },
    },
    fanOut,
  );

  const log: Log = root;

  // A record's line is its level's head for this millisecond, its fields, and its message's
  // tail: both ends made once (per millisecond, per message), not per line.
  let lastMs = -1;
  let infoHead = "";
  let warnHead = "";
  const base = `,"app":${JSON.stringify(appName)},"pid":${process.pid},`;
  let lastMsg = "";
  let lastTail = '"msg":""}\n';
  const write = (
    level: "info" | "warn",
    fields: Readonly<Record<string, unknown>>,
    msg: string,
    json?: string,
  ) => {
    if (!root.isLevelEnabled(level)) return;
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      const iso = new Date(now).toISOString();
      infoHead = `{"level":30,"severity":"info","time":"${iso}"${base}`;
      warnHead = `{"level":40,"severity":"warn","time":"${iso}"${base}`;
    }
    const inner = json ?? JSON.stringify(fields).slice(1, -1);
    if (msg !== lastMsg) {
      lastMsg = msg;
      lastTail = `"msg":${JSON.stringify(msg)}}\n`;
    }
    fanOut.lastLevel = level === "info" ? 30 : 40;
    fanOut.lastObj = fields;
    fanOut.write(`${level === "info" ? infoHead : warnHead}${inner === "" ? "" : `${inner},`}${lastTail}`);
  };
  const record: RecordFn = Object.assign(write, {
    enabled: (level: "info" | "warn") => root.isLevelEnabled(level),
  });

  /** Sinks replaced by a reload (or closed) still flushing, and what the finished ones dropped. */
  const retiring = new Set<SyslogSink>();
  let retiredDropped = 0;
  const retire = (old: SyslogSink | undefined) => {
    if (!old) return;
    retiring.add(old);
    const p = old.close();
    closing.add(p);
    void p.then(() => {
      closing.delete(p);
      retiring.delete(old);
      retiredDropped += old.stats().dropped;
    });
  };

  return {
    log,
    record,
    setLevel(level) {
      root.level = level;
    },
    reconfigure(next) {
      root.level = next.level;
      if (closed || sameSyslog(sink, next.syslog)) return;
      let fresh: SyslogSink | undefined;
      try {
        fresh = makeSink(next.syslog);
      } catch (err) {
        log.error(
          { event: "syslog", error: errorMessage(err) },
          "syslog settings rejected; keeping the previous ones",
        );
        return;
      }
      const old = sink;
      sink = fresh;
      retire(old);
    },
    syslogStats: () => sink?.stats(),
    stdoutStats: () => fdSink?.stats(),
    syslogDropped() {
      let n = retiredDropped + (sink?.stats().dropped ?? 0);
      for (const r of retiring) n += r.stats().dropped;
      return n;
    },
    async close() {
      fdSink?.flushSync();
      if (!closed) {
        closed = true;
        retire(sink);
        sink = undefined;
      }
      await Promise.all(closing);
    },
  };
}

function wantPretty(destination: LoggerOptions["destination"]): boolean {
  const f = process.env.TRUNKLINE_LOG_FORMAT;
  if (f === "json") return false;
  if (f === "pretty") return true;
  return (destination === undefined || destination === 1) && isatty(1);
}
