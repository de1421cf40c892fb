import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { BroadcastChannel } from "node:worker_threads";
import { ScriptRunner } from "../../src/core/script-runner.ts";

// Real worker threads, real module files: the point is what thread start-up and module
// import cost, which a fake would hide.
const dir = mkdtempSync(join(tmpdir(), "tl-script-runner-"));
const channels: BroadcastChannel[] = [];
const runners: ScriptRunner[] = [];
after(async () => {
  for (const r of runners) await r.close();
  for (const c of channels) c.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;

/**
 * Writes a route module that announces each import on a BroadcastChannel (so a test can
 * count worker spawns without polling), then busies its thread for `busyMs` at top level,
 * like a heavy import on a loaded machine.
 */
function routeModule(opts: { busyMs?: number; body?: string } = {}): { file: string; loads: LoadCounter } {
  const name = `tl-route-${process.pid}-${++seq}`;
  const file = join(dir, `route-${seq}.mjs`);
  const body =
    opts.body ??
    `export default async (r) => {
  if (r.loop) for (;;) {}
  if (r.sleepMs) await new Promise((res) => setTimeout(res, r.sleepMs));
  return { echo: r.n };
};`;
  writeFileSync(
    file,
    `const ch = new BroadcastChannel(${JSON.stringify(name)});
ch.postMessage("loaded");
ch.unref();
const until = Date.now() + ${opts.busyMs ?? 0};
while (Date.now() < until) {}
${body}
`,
  );
  return { file, loads: new LoadCounter(name) };
}

class LoadCounter {
  count = 0;
  #waiters: { n: number; resolve: () => void }[] = [];
  constructor(name: string) {
    const ch = new BroadcastChannel(name);
    channels.push(ch);
    ch.onmessage = () => {
      this.count++;
      const due = this.#waiters.filter((w) => w.n <= this.count);
      this.#waiters = this.#waiters.filter((w) => w.n > this.count);
      for (const w of due) w.resolve();
    };
  }
  /** Resolves once `n` imports have been seen; rejects after a generous bound. */
  reach(n: number, boundMs = 10_000): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`saw ${this.count} of ${n} loads`)), boundMs);
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }
}

function runner(file: string, exportName: string, timeoutMs: number, opts = {}): ScriptRunner {
  const r = new ScriptRunner(file, exportName, timeoutMs, opts);
  runners.push(r);
  return r;
}

test("start() loads the module first: a 50ms call right after it succeeds though the import took 300ms", async () => {
  const { file, loads } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 50);
  assert.equal(r.ready, false);
  await r.start();
  assert.equal(r.ready, true);
  assert.equal(loads.count, 1);
  assert.ok((r.startupMs ?? 0) >= 300, `startup ${r.startupMs}ms`);
  assert.deepEqual(await r.call({ n: 1 }), { ok: true, value: { echo: 1 } });
  await r.start(); // already ready: no second worker
  assert.equal(loads.count, 1);
});

test("calls made while the worker starts are queued and answered; their timeout starts at hand-over", async () => {
  const { file } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 50);
  const starting = r.start();
  // The old runner started the 50ms clock here and timed these out during the import.
  const calls = [1, 2, 3].map((n) => r.call({ n }));
  assert.equal(r.ready, false);
  assert.deepEqual(
    await Promise.all(calls),
    [1, 2, 3].map((n) => ({ ok: true, value: { echo: n } })),
  );
  await starting;
  assert.equal(r.ready, true);
});

test("a call without start() spawns the worker itself and is queued, not timed, during the import", async () => {
  const { file } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 50);
  assert.deepEqual(await r.call({ n: 7 }), { ok: true, value: { echo: 7 } });
});

test("a stuck call times out, the worker is replaced at once, and the next call does not pay its start-up", async () => {
  const { file, loads } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 100);
  await r.start();
  const stuck = await r.call({ loop: true });
  assert.deepEqual(stuck, { ok: false, error: "route script did not answer within 100ms" });
  assert.equal(r.ready, false, "the stuck worker is gone");
  // No call made: the replacement is already importing.
  await loads.reach(2);
  await r.start();
  assert.equal(r.ready, true);
  assert.equal(loads.count, 2, "start() found the replacement, it did not spawn another");
  assert.deepEqual(await r.call({ n: 2 }), { ok: true, value: { echo: 2 } });
});

test("an answer that arrived in time counts though the proxy's own thread was stalled past the deadline", async () => {
  const { file } = routeModule();
  const r = runner(file, "default", 100);
  await r.start();
  const call = r.call({ n: 4, sleepMs: 20 });
  // Stand-in for a loaded machine: from the next loop turn this thread does not run its
  // event loop for 300ms; the worker answers after 20ms. On the turn after, the timer is
  // due and, timers running before I/O, would be seen before the answer.
  setImmediate(() => {
    const until = Date.now() + 300;
    while (Date.now() < until) {}
  });
  assert.deepEqual(await call, { ok: true, value: { echo: 4 } });
});

test("a missing export or a module that throws answers every call at once with the reason", async () => {
  const { file } = routeModule();
  const r = runner(file, "nope", 10_000);
  const early = r.call({ n: 1 }); // queued before the load fails
  await r.start();
  assert.equal(r.ready, false);
  assert.match(r.loadError ?? "", /route-\d+\.mjs does not export a function named 'nope'/);
  const t = Date.now();
  const late = await r.call({ n: 2 });
  assert.ok(Date.now() - t < 1000, "no timeout involved");
  assert.deepEqual(late, { ok: false, error: r.loadError });
  assert.deepEqual(await early, { ok: false, error: r.loadError });

  const { file: bad } = routeModule({ body: `throw new Error("no database");` });
  const r2 = runner(bad, "default", 10_000);
  await r2.start();
  assert.match(r2.loadError ?? "", /failed to load: no database/);
  assert.deepEqual(await r2.call({}), { ok: false, error: r2.loadError });

  const { file: exits } = routeModule({ body: `process.exit(3);` });
  const r3 = runner(exits, "default", 10_000);
  await r3.start();
  assert.match(r3.loadError ?? "", /exited with code 3 while loading/);
});

test("the queue is bounded: beyond maxQueued a call fails at once, the others are answered", async () => {
  const { file } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 50, { maxQueued: 2 });
  void r.start();
  const first = [r.call({ n: 1 }), r.call({ n: 2 })];
  const over = await r.call({ n: 3 });
  assert.equal(r.ready, false, "refused while still starting");
  assert.deepEqual(over, {
    ok: false,
    error: "route script worker is starting and 2 calls already wait for it",
  });
  assert.deepEqual(await Promise.all(first), [
    { ok: true, value: { echo: 1 } },
    { ok: true, value: { echo: 2 } },
  ]);
});

test("start-up is bounded: queued calls fail when the worker is not ready in time", async () => {
  const { file } = routeModule({ busyMs: 1000 });
  const r = runner(file, "default", 50, { startTimeoutMs: 100 });
  const res = await r.call({ n: 1 });
  assert.deepEqual(res, { ok: false, error: "route script worker did not start within 100ms" });
  assert.equal(r.ready, false);
  assert.equal(r.loadError, undefined, "a slow start is not a broken script");
});

test("close() fails queued calls, and later calls and start() return at once", async () => {
  const { file } = routeModule({ busyMs: 300 });
  const r = runner(file, "default", 50);
  const queued = [r.call({ n: 1 }), r.call({ n: 2 })];
  await r.close();
  assert.deepEqual(await Promise.all(queued), [
    { ok: false, error: "route script closed" },
    { ok: false, error: "route script closed" },
  ]);
  assert.deepEqual(await r.call({ n: 3 }), { ok: false, error: "route script closed" });
  await r.start();
  assert.equal(r.ready, false);
});

test("setTimeoutMs() adopts a new bound without a restart", async () => {
  const { file, loads } = routeModule();
  const r = runner(file, "default", 50);
  await r.start();
  r.setTimeoutMs(2000);
  assert.equal(r.timeoutMs, 2000);
  assert.deepEqual(await r.call({ n: 1, sleepMs: 150 }), { ok: true, value: { echo: 1 } });
  assert.equal(loads.count, 1);
});

test("reusableFor() keeps a runner only for the same file, export and content digest", async () => {
  const { file } = routeModule();
  const r = runner(file, "default", 50, { digest: "abc" });
  assert.equal(r.reusableFor(file, "default", "abc"), true);
  assert.equal(r.reusableFor(file, "default", "abd"), false);
  assert.equal(r.reusableFor(file, "route", "abc"), false);
  assert.equal(r.reusableFor(`${file}x`, "default", "abc"), false);
  assert.equal(r.reusableFor(file, "default", undefined), false);
  assert.equal(runner(file, "default", 50).reusableFor(file, "default", undefined), false);
  const broken = runner(file, "nope", 50, { digest: "abc" });
  await broken.start();
  assert.equal(broken.reusableFor(file, "nope", "abc"), false, "a load error is retried on reload");
  await r.close();
  assert.equal(r.reusableFor(file, "default", "abc"), false);
});

test("a ready, idle runner does not keep the process alive", () => {
  const { file } = routeModule();
  const src = fileURLToPath(new URL("../../src/core/script-runner.ts", import.meta.url));
  const code = `import { ScriptRunner } from ${JSON.stringify(src)};
const r = new ScriptRunner(${JSON.stringify(file)}, "default", 1000);
await r.start();
const out = await r.call({ n: 5 });
console.log(JSON.stringify(out));`;
  const res = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    encoding: "utf8",
    timeout: 15_000,
  });
  assert.equal(res.error, undefined, "exited on its own (no close())");
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout.trim(), JSON.stringify({ ok: true, value: { echo: 5 } }));
});
