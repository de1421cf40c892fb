/**
 * The narrow logging interface protocol code depends on. observe/logger.ts provides
 * the implementation (pino); nothing outside observe/ imports a logging library.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Log {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Log;
}

/**
 * Writes one flat record (fields that are plain values, arrays or plain objects) as the same
 * JSON line the Log would, without its general machinery: for the one line per session.
 */
export interface RecordFn {
  (
    level: "info" | "warn",
    fields: Readonly<Record<string, unknown>>,
    msg: string,
    /** The fields already written as JSON, without braces: then `fields` only names the event. */
    json?: string,
  ): void;
  /** Whether a record at this level is written: when not, its JSON need not be made. */
  enabled(level: "info" | "warn"): boolean;
}

/** A logger that drops everything: for tests and library use. */
export const silentLog: Log = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLog;
  },
};

/** Every long-lived component: start, drain with a deadline, then close. */
export interface Lifecycle {
  start(): Promise<void>;
  /** Stop taking new work; resolve when in-flight work ended or the deadline (epoch ms) passed. */
  drain(deadline: number): Promise<void>;
  /** Release everything now. */
  close(): Promise<void>;
}
