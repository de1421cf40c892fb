// wrk (Debian's `wrk`) as the HTTP load generator, in its own process: one run against one
// URL, its summary parsed from the text it prints (`--latency` adds the percentiles).
import { spawn } from "node:child_process";
import { LOAD_CPU, onCpus } from "../lib/pin.ts";

export const WRK = "/usr/bin/wrk";

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Responses outside 2xx/3xx, plus connect/read/write errors and timeouts. */
  errors: number;
  non2xx: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string | undefined): number | null {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? "");
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : null;
}

/** wrk's report → numbers; throws when the summary lines are missing. */
export function parseWrk(out: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!total || !rps) throw new Error(`wrk printed no summary:\n${out.slice(-1500)}`);
  const pct = (p: string) => durationMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests: Number(total[1]),
    seconds: (Number(total[2]) * (UNIT_MS[total[3] as string] as number)) / 1000,
    rps: Number(rps[1]),
    p50_ms: pct("50"),
    p99_ms: pct("99"),
    errors: sockErrors + non2xx,
    non2xx,
  };
}

/** One wrk run: `threads` threads, `connections` keep-alive connections, for `seconds`. */
export function runWrk(
  url: string,
  threads: number,
  connections: number,
  seconds: number,
): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = onCpus(
      WRK,
      ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--latency", url],
      LOAD_CPU,
    );
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    p.stderr.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    const guard = setTimeout(() => p.kill("SIGKILL"), (seconds + 30) * 1000);
    p.on("error", reject);
    p.on("exit", (code) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out.slice(-1500)}`));
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
