// Lead's interim version (stdout only); the logging helper replaces it with syslog support.
import { pino } from "pino";
import type { Log } from "../core/types.ts";

type Level = "trace" | "debug" | "info" | "warn" | "error";
export interface LoggerOptions {
  level: Level;
  appName?: string;
  syslog?: { target: { transport: "udp" | "tcp"; host: string; port: number }; facility: number };
}

export function createLogger(opts: LoggerOptions): { log: Log; setLevel(level: Level): void; reconfigure(o: LoggerOptions): void; close(): Promise<void> } {
  const logger = pino({ level: opts.level, base: { app: opts.appName ?? "trunkline" }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: true }));
  return {
    log: logger as unknown as Log,
    setLevel: (l) => {
      logger.level = l;
    },
    reconfigure: (o) => {
      logger.level = o.level;
    },
    close: async () => {
      logger.flush();
    },
  };
}
