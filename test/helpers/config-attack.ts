/**
 * For the config attack tests (test/integration/config-attack-*.test.ts): runs `trunkline`
 * from source under a watch that bounds its time and its memory (a process that reads
 * /dev/zero would otherwise eat the machine), reads a process's RSS and open descriptors,
 * and finds a Node that can `--takeover` (SO_REUSEPORT) when this one cannot.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { reusePortSupported } from "../../src/net/reuse-port.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** Resident memory of a live process in MiB; undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a live process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Alive, and not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** A Node that has SO_REUSEPORT (this one, else the suite's Node 24 in the cache), or undefined. */
export function takeoverNode(): string | undefined {
  if (reusePortSupported()) return process.execPath;
  const cache =
    process.env.TRUNKLINE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "trunkline");
  const bin = join(cache, "node-v24.22.3", "bin", "node");
  return existsSync(bin) ? bin : undefined;
}

export interface Watched {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  /** The highest RSS seen, MiB. */
  peakRssMb(): number;
  /** Why the watch killed it, if it did. */
  killedFor(): "rss" | undefined;
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** The exit code, or "timeout" (then it is killed). */
  exited(timeoutMs: number): Promise<number | null | "timeout">;
  kill(): void;
}

/**
 * Starts `trunkline ARGS` from source; its RSS is sampled every 50 ms and past `rssCapMb` it
 * is killed (SIGKILL), so no attack can take the machine's memory.
 */
export function watchCli(args: string[], opts: { rssCapMb?: number; node?: string } = {}): Watched {
  const child = spawn(opts.node ?? process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid!;
  const cap = opts.rssCapMb ?? 400;
  let out = "";
  let err = "";
  let buf = "";
  let peak = 0;
  let killed: "rss" | undefined;
  const lines: Record<string, unknown>[] = [];
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
  let done = false;
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      done = true;
      clearInterval(sampler);
      resolve(code);
    }),
  );
  const sampler = setInterval(() => {
    const r = rssMb(pid);
    if (r === undefined) return;
    peak = Math.max(peak, r);
    if (r > cap && !done) {
      killed = "rss";
      child.kill("SIGKILL");
    }
  }, 50);
  const kill = () => {
    if (!done) child.kill("SIGKILL");
  };
  return {
    child,
    pid,
    lines,
    stdout: () => out,
    stderr: () => err,
    peakRssMb: () => peak,
    killedFor: () => killed,
    async waitFor(pred, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = lines.find(pred);
        if (l) return l;
        if (Date.now() > end || done)
          throw new Error(
            `no matching log line within ${timeoutMs}ms (exited: ${done}, killed: ${killed}):\n${out.slice(-2000)}\n${err.slice(-2000)}`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async exited(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const r = await Promise.race([exit, limit]).finally(() => clearTimeout(timer));
      if (r === "timeout") {
        kill();
        await exit;
      }
      return r;
    },
    kill,
  };
}

/** Runs `trunkline ARGS` to its end under the watch; the time it took, in ms. */
export async function boundedCli(
  args: string[],
  opts: { timeoutMs: number; rssCapMb?: number },
): Promise<{
  code: number | null | "timeout";
  stdout: string;
  stderr: string;
  ms: number;
  peakRssMb: number;
  killedFor: "rss" | undefined;
}> {
  const t0 = Date.now();
  const w = watchCli(args, opts);
  const code = await w.exited(opts.timeoutMs);
  return {
    code,
    stdout: w.stdout(),
    stderr: w.stderr(),
    ms: Date.now() - t0,
    peakRssMb: w.peakRssMb(),
    killedFor: w.killedFor(),
  };
}
