import { Writable } from "node:stream";
import { pino } from "pino";
import type { Log } from "../core/types.ts";
import { SyslogSink } from "./syslog.ts";
import { type SyslogTarget, severityOf } from "./syslog-format.ts";

export type Level = "trace" | "debug" | "info" | "warn" | "error";

export interface LoggerOptions {
  readonly level: Level;
  readonly appName?: string;
  readonly syslog?: { readonly target: SyslogTarget; readonly facility: number };
  /** Where JSON lines go; stdout by default. */
  readonly destination?: NodeJS.WritableStream;
}

export interface Logger {
  readonly log: Log;
  setLevel(level: Level): void;
  /** Applies a reloaded config: level and syslog target, without losing a line. */
  reconfigure(opts: LoggerOptions): void;
  syslogStats(): ReturnType<SyslogSink["stats"]> | undefined;
  close(): Promise<void>;
}

/**
 * JSON lines on stdout (pino) and, if configured, the same records to syslog. The syslog
 * leg is a stream inside pino's multistream whose sink can be swapped on reload; it reads
 * the level and the `event` field (used as MSGID) back from each line.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const appName = opts.appName ?? "trunkline";
  let sink: SyslogSink | undefined;
  const makeSink = (o: LoggerOptions) =>
    o.syslog ? new SyslogSink({ target: o.syslog.target, facility: o.syslog.facility, appName }) : undefined;
  sink = makeSink(opts);
  const syslogStream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const s = sink;
      if (s) {
        const line = String(chunk).trimEnd();
        let level = 30;
        let event: string | undefined;
        try {
          const rec = JSON.parse(line) as { level?: number; event?: unknown };
          level = typeof rec.level === "number" ? rec.level : 30;
          if (typeof rec.event === "string") event = rec.event;
        } catch {}
        s.write(severityOf(level), line, event);
      }
      cb();
    },
  });
  const stdout = opts.destination ?? pino.destination({ fd: 1, sync: true });
  const logger = pino(
    {
      level: opts.level,
      base: { app: appName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label, number) => ({ level: number, severity: label }) },
    },
    pino.multistream([
      { level: "trace", stream: stdout },
      { level: "trace", stream: syslogStream },
    ]),
  );
  return {
    log: logger as unknown as Log,
    setLevel(level) {
      logger.level = level;
    },
    reconfigure(next) {
      logger.level = next.level;
      const a = sink;
      const b = next.syslog;
      const same =
        (a === undefined && b === undefined) ||
        (a !== undefined &&
          b !== undefined &&
          a.target.transport === b.target.transport &&
          a.target.host === b.target.host &&
          a.target.port === b.target.port &&
          a.facility === b.facility);
      if (same) return;
      const old = sink;
      sink = makeSink(next);
      void old?.close();
    },
    syslogStats: () => sink?.stats(),
    async close() {
      await sink?.close();
    },
  };
}
