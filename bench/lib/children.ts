// The benchmarks' child processes: started through `sh` (to raise the open-files limit),
// each tracked so that all of them stop on exit, Ctrl-C or an error.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export type Event = Record<string, unknown> & { event?: string };

export interface LaunchOptions {
  /** A pipe to the child's stdin (our scripts take commands there and exit when it closes). */
  stdin?: boolean;
  env?: NodeJS.ProcessEnv;
  /**
   * The child's stdout goes to this file (opened here, its descriptor passed to the child),
   * never through the orchestrator: a proxy's log lines are not parsed. Without it, stdout is
   * read as JSON lines, the events of our own scripts.
   */
  logFile?: string;
  /**
   * Its stderr to the log file too, not to a pipe: a program that logs there (Kamailio with
   * -E) would otherwise block whenever the orchestrator is slow to read (a 64 KiB pipe holds
   * a quarter of a second of CDR lines at 1,000 calls/s).
   */
  stderrToLog?: boolean;
}

/** The last `bytes` of a file, or "" if it cannot be read. */
function fileTail(path: string, bytes: number): string {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return buf.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

/** A child process: its JSON-line events (our scripts), or its log file (proxies). */
export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logFile: string | undefined;
  readonly events: Event[] = [];
  exited: number | string | null = null;
  /** Tail of stderr (and of stdout when it is piped): enough to explain a failure, bounded. */
  private output = "";
  private partial = "";
  /** Bytes read from its stderr so far. */
  private stderrBytes = 0;
  private listeners: Array<(e: Event) => void> = [];

  constructor(name: string, proc: ChildProcess, logFile: string | undefined) {
    this.name = name;
    this.proc = proc;
    this.logFile = logFile;
    if (proc.pid === undefined) throw new Error(`${name}: could not start`);
    this.pid = proc.pid;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-8192);
    };
    proc.stdout?.on("data", (chunk: Buffer) => {
      keep(chunk);
      const lines = (this.partial + chunk.toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        let e: Event;
        try {
          e = JSON.parse(line) as Event;
        } catch {
          continue;
        }
        this.events.push(e);
        for (const l of this.listeners) l(e);
      }
    });
    proc.stderr?.on("data", (chunk: Buffer) => {
      this.stderrBytes += chunk.length;
      keep(chunk);
    });
    proc.on("exit", (code, signal) => {
      this.exited = code ?? signal ?? "exited";
    });
  }

  onEvent(fn: (e: Event) => void): void {
    this.listeners.push(fn);
  }

  /** Bytes the child has written to its log file so far (0 without one). */
  logBytes(): number {
    if (this.logFile === undefined) return 0;
    try {
      return statSync(this.logFile).size;
    } catch {
      return 0;
    }
  }

  /** Its log file's bytes and those read from its stderr so far: all it has logged. */
  outputBytes(): number {
    return this.logBytes() + this.stderrBytes;
  }

  tail(): string {
    const log = this.logFile === undefined ? "" : fileTail(this.logFile, 2048);
    return `${log}${this.output}`.trim().split("\n").slice(-15).join("\n");
  }

  /**
   * Resolves with the first event named `name` from index `from` of `events` on (0: also
   * one that already came); rejects after `timeoutMs` or when the child exits without it.
   */
  waitFor(name: string, timeoutMs: number, from = 0): Promise<Event> {
    const seen = this.events.slice(from).find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no "${name}" within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const poll = setInterval(() => {
        if (this.exited === null) return;
        finish();
        const late = this.events.slice(from).find((e) => e.event === name);
        if (late) resolve(late);
        else reject(new Error(`${this.name} exited (${this.exited}) before "${name}"\n${this.tail()}`));
      }, 50);
      this.onEvent((e) => {
        if (done || e.event !== name) return;
        finish();
        resolve(e);
      });
    });
  }

  /** Sends a command line and waits for the next event named `name`. */
  request(line: string, name: string, timeoutMs: number): Promise<Event> {
    const from = this.events.length;
    this.send(line);
    return this.waitFor(name, timeoutMs, from);
  }

  send(line: string): void {
    if (this.exited === null) this.proc.stdin?.write(`${line}\n`);
  }

  /** `signal` (SIGTERM), then SIGKILL after `graceMs`. */
  async stop(graceMs = 2_000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.exited !== null) return;
    const gone = new Promise<void>((r) => this.proc.once("exit", () => r()));
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(t);
  }
}

const children = new Set<Child>();
let fdLimit = 1024;

/** The open-files limit children are started with (`ulimit -n`; kept if it cannot be raised). */
export function setChildFdLimit(n: number): void {
  fdLimit = n;
}

/**
 * Spawns through `sh` to raise the open-files limit first (5,000 held sessions need over
 * 10,000 descriptors in a proxy); `exec` keeps the PID the program's own.
 */
export function launch(name: string, cmd: string, args: string[], opts: LaunchOptions = {}): Child {
  const logFd = opts.logFile === undefined ? undefined : openSync(opts.logFile, "w");
  let proc: ChildProcess;
  try {
    proc = spawn("sh", ["-c", `ulimit -n ${fdLimit} 2>/dev/null; exec "$@"`, "sh", cmd, ...args], {
      cwd: ROOT,
      stdio: [
        opts.stdin ? "pipe" : "ignore",
        logFd ?? "pipe",
        opts.stderrToLog === true && logFd !== undefined ? logFd : "pipe",
      ],
      env: opts.env ?? process.env,
    });
  } finally {
    // The child has its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
  }
  const c = new Child(name, proc, opts.logFile);
  children.add(c);
  proc.on("exit", () => children.delete(c));
  return c;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

export function killAllNow(): void {
  for (const c of children) if (c.exited === null) c.proc.kill("SIGKILL");
}
