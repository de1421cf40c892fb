import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** Runs `trunkline ARGS` (from source, through tsx) to completion. */
export function runCli(
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `trunkline ${args.join(" ")} did not finish within ${opts.timeoutMs ?? 15000}ms\n${stdout}\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 15000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Running {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly stderr: () => string;
  /** Everything it wrote to stdout, as it came (lines holds it parsed). */
  readonly stdout: () => string;
  waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited(timeoutMs?: number): Promise<number | null>;
  /** Its exit code once its stdout and stderr are read to their end as well ('close', not 'exit'). */
  closed(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

/**
 * Starts a long-running `trunkline ARGS` and parses its JSON log lines. `prefix` runs it
 * through a command that execs it (`ip netns exec NS`): the child's pid is still trunkline's.
 */
export function startCli(
  args: string[],
  opts: { maxOpenFiles?: number; prefix?: readonly [string, ...string[]] } = {},
): Running {
  const [cmd, ...pre] = opts.prefix ?? [process.execPath];
  const argv = [...pre, ...(opts.prefix ? [process.execPath] : []), "--import", "tsx", MAIN, ...args];
  // A file-descriptor limit needs a shell's ulimit: Node has no setrlimit.
  const child =
    opts.maxOpenFiles === undefined
      ? spawn(cmd, argv, { cwd: ROOT })
      : spawn(
          "bash",
          [
            "-c",
            `ulimit -n ${opts.maxOpenFiles} && exec "$0" "$@"`,
            process.execPath,
            "--import",
            "tsx",
            MAIN,
            ...args,
          ],
          { cwd: ROOT },
        );
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  let err = "";
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ text: line });
      }
      nl = buf.indexOf("\n");
    }
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const close = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  /** `p`, or a rejection after timeoutMs; the timer is cleared once the race is decided. */
  const bounded = (p: Promise<number | null>, timeoutMs: number, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<number | null>((_, rej) => {
      timer = setTimeout(() => rej(new Error(what)), timeoutMs);
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  };
  return {
    child,
    lines,
    stderr: () => err,
    stdout: () => out,
    async waitFor(pred, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = lines.find(pred);
        if (l) return l;
        if (Date.now() > end)
          throw new Error(
            `no matching log line within ${timeoutMs}ms:\n${lines.map((x) => JSON.stringify(x)).join("\n")}\n${err}`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    exited(timeoutMs = 8000) {
      // The limit's timer is cleared once the race is decided, so it never holds the test file open.
      return bounded(exit, timeoutMs, "process did not exit");
    },
    closed(timeoutMs = 8000) {
      return bounded(close, timeoutMs, "process did not exit and close its output");
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}
