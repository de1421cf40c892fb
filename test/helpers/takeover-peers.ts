/**
 * The peers of the takeover-under-load test, as processes of their own (the test runs them
 * inside a network namespace with `ip netns exec`, which a thread of the test cannot enter):
 *
 *   takeover-peers.ts agi HOLD_MS
 *     a FastAGI server: a two-command session, held HOLD_MS first; prints {"port":N}, runs
 *     until SIGTERM.
 *   takeover-peers.ts load HOST PORT RATE DURATION_MS
 *     plays Asterisk: RATE sessions a second for DURATION_MS, then waits for the last one
 *     (each bounded by its own timeout) and prints one JSON line of counts.
 *
 * A session is ok when it ended SUCCESS with both commands seen; anything else failed, and
 * the first few failures are printed with how far into the run they started.
 */
import { pathToFileURL } from "node:url";
import { agiCall } from "./asterisk.ts";
import { startAgiServer } from "./upstreams.ts";

const COMMANDS = ['VERBOSE "takeover" 1', "SET VARIABLE TAKEOVER yes"];

export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly statuses: Record<string, number>;
  /** The first failures: when they started (ms into the run) and how they ended. */
  readonly failures: { readonly atMs: number; readonly status: string; readonly error?: string }[];
  readonly durationMs: number;
}

async function agi(holdMs: number): Promise<void> {
  const server = await startAgiServer({ commands: COMMANDS, holdOpenMs: holdMs });
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  await server.close();
}

async function load(host: string, port: number, rate: number, durationMs: number): Promise<void> {
  const start = performance.now();
  const statuses: Record<string, number> = {};
  const failures: { atMs: number; status: string; error?: string }[] = [];
  const calls: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  const one = async () => {
    const atMs = Math.round(performance.now() - start);
    // 15 s: a machine busy with the whole suite and two CPU hogs stalled sessions past 5 s once
    // (timeouts, with no takeover at all); a dropped connection fails at once whatever the bound.
    const r = await agiCall({ host, port, url: "agi://takeover/load", timeoutMs: 15_000 });
    const good =
      r.status === "SUCCESS" && COMMANDS.every((c) => r.commands.includes(c)) && r.closedBy === "server";
    const key = good ? "ok" : `${r.status}/${r.closedBy}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (good) ok++;
    else {
      failed++;
      if (failures.length < 20)
        failures.push({ atMs, status: key, ...(r.error ? { error: r.error.message } : {}) });
    }
  };
  // Paced against the clock, not per tick: a late timer catches up rather than lowering the rate.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.floor((Math.min(elapsed, durationMs) * rate) / 1000);
      while (calls.length < due) calls.push(one());
      if (elapsed >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  await Promise.all(calls);
  const result: LoadResult = {
    sent: calls.length,
    ok,
    failed,
    statuses,
    failures,
    durationMs: Math.round(performance.now() - start),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const [mode, ...rest] = process.argv.slice(2);
const entry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (!entry) {
  // imported for its types: nothing to run
} else if (mode === "agi") await agi(Number(rest[0] ?? 0));
else if (mode === "load")
  await load(rest[0] ?? "127.0.0.1", Number(rest[1]), Number(rest[2] ?? 500), Number(rest[3] ?? 5000));
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exitCode = 2;
}
