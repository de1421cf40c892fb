import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TrunklineProxy } from "../../src/app/proxy.ts";
import type { Log, LogFn } from "../../src/core/types.ts";

export interface LogRecord {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** A Log that keeps every record in memory, so tests can assert on what was logged. */
export function memoryLog(records: LogRecord[], bindings: Record<string, unknown> = {}): Log {
  const fn =
    (level: string): LogFn =>
    (a: object | string, b?: string) => {
      if (typeof a === "string") records.push({ level, msg: a, ...bindings });
      else records.push({ level, msg: b ?? "", ...bindings, ...(a as Record<string, unknown>) });
    };
  return {
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    child: (more) => memoryLog(records, { ...bindings, ...more }),
  };
}

export interface TestProxy {
  readonly proxy: TrunklineProxy;
  readonly file: string;
  readonly dir: string;
  readonly logs: LogRecord[];
  port(listener?: string): number;
  /** Replaces the config file (as an editor would: write a temp file, rename). */
  writeConfig(yaml: string): void;
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  sessions(): LogRecord[];
  /** The i-th session's log line (0-based), waiting for it: it is written after both sockets closed. */
  session(i: number): Promise<LogRecord>;
  close(): Promise<void>;
}

export async function startProxy(
  yaml: string,
  opts: { watch?: boolean; files?: Record<string, string | Buffer> } = {},
): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-test-"));
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content);
  const file = join(dir, "trunkline.yaml");
  writeFileSync(file, yaml);
  const logs: LogRecord[] = [];
  const log = memoryLog(logs);
  const proxy = await TrunklineProxy.start({
    configFile: file,
    watch: opts.watch ?? false,
    logging: () => ({ log, reconfigure() {}, close: async () => {} }),
  });
  let closed = false;
  const api: TestProxy = {
    proxy,
    file,
    dir,
    logs,
    port(listener = "agi") {
      const a = proxy.runtime.listener(listener)?.address;
      if (!a) throw new Error(`no listener ${listener}`);
      return a.port;
    },
    writeConfig(text: string) {
      const tmp = join(dir, ".trunkline.yaml.tmp");
      writeFileSync(tmp, text);
      renameSync(tmp, file);
    },
    async waitForLog(pred, timeoutMs = 3000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find(pred);
        if (found) return found;
        if (Date.now() > until)
          throw new Error(
            `log record not seen within ${timeoutMs}ms; last: ${JSON.stringify(logs.slice(-5))}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    sessions() {
      return logs.filter((r) => r.event === "session");
    },
    async session(i: number) {
      const all = () => logs.filter((r) => r.event === "session");
      await api.waitForLog(() => all().length > i);
      return all()[i]!;
    },
    async close() {
      if (closed) return;
      closed = true;
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}

/** Waits until `cond()` holds, polling; fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
