// Memory of an idle session in a proxy: the header went through, the upstream says nothing.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../lib/children.ts";
import { fdCount, rssKiB } from "../lib/procfs.ts";
import { sleep, waitUntil } from "../lib/wait.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const HOLD_SESSIONS = 5_000;
const HOLD_WARMUP_SESSIONS = 500;

export interface IdleResult {
  target: string;
  sessions_held: number;
  hold_errors: number;
  rss_before_kib: number;
  rss_after_kib: number;
  kib_per_session: number;
  fds_before: number;
  fds_after: number;
}

/**
 * A first round of HOLD_WARMUP_SESSIONS is opened and closed so that the baseline already
 * includes the code paths' one-time costs (JIT, first heap growth), then `count` are held.
 */
export async function measureIdle(
  name: string,
  pid: number,
  port: number,
  count: number,
): Promise<IdleResult> {
  const hold = async (n: number) => {
    const lg = launch(
      `hold→${name}`,
      process.execPath,
      [join(HERE, "loadgen.mjs"), "--ports", String(port), "--hold", String(n), "--concurrency", "200"],
      { stdin: true },
    );
    const held = (await lg.waitFor("held", 60_000)) as { held: number; errors: number };
    return { lg, held };
  };
  const fds0 = fdCount(pid);
  const warm = await hold(Math.min(HOLD_WARMUP_SESSIONS, count));
  await waitUntil(
    `${name} to hold the warm-up sessions`,
    () => fdCount(pid) >= fds0 + 2 * warm.held.held,
    20_000,
  );
  warm.lg.send("release");
  await warm.lg.waitFor("released", 10_000);
  await waitUntil(`${name} to close the warm-up sessions`, () => fdCount(pid) <= fds0 + 2, 20_000);
  await sleep(1_000);
  const before = rssKiB(pid);
  const fdsBefore = fdCount(pid);
  const run = await hold(count);
  // "The proxy has them all": both of its sockets of every session are open.
  await waitUntil(
    `${name} to hold ${run.held.held} sessions`,
    () => fdCount(pid) >= fdsBefore + 2 * run.held.held,
    30_000,
  );
  await sleep(1_000);
  const after = rssKiB(pid);
  const fdsAfter = fdCount(pid);
  run.lg.send("release");
  await run.lg.waitFor("released", 10_000).catch(() => undefined);
  return {
    target: name,
    sessions_held: run.held.held,
    hold_errors: run.held.errors,
    rss_before_kib: before,
    rss_after_kib: after,
    kib_per_session: Math.round(((after - before) / Math.max(1, run.held.held)) * 100) / 100,
    fds_before: fdsBefore,
    fds_after: fdsAfter,
  };
}
