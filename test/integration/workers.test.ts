import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { refusedPort } from "../helpers/blackhole.ts";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { type AgiServer, startAgiServer } from "../helpers/upstreams.ts";

const supported = reusePortSupported();

function config(servers: AgiServer[], workers: number | string, extra = ""): string {
  return `
workers: ${workers}
admin: { listen: 127.0.0.1:0 }
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
routes:
  - { listener: agi, match: { path: ".*" }, pool: p }
pools:
  p:
    balance: least-sessions
    servers:
${servers.map((s) => `      - { address: 127.0.0.1:${s.port}${extra} }`).join("\n")}
`;
}

/** Runs `n` FastAGI sessions, `parallel` at a time; returns their statuses. */
async function sessions(port: number, n: number, parallel: number): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        out.push((await agiCall({ port, url: `agi://127.0.0.1:${port}/w` })).status);
      }
    }),
  );
  return out;
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("workers", { timeout: 120_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });
  async function proxyOn(yaml: string): Promise<TestProxy> {
    const p = await startProxy(yaml);
    open.push(p);
    return p;
  }
  async function agi(opts: Parameters<typeof startAgiServer>[0] = {}): Promise<AgiServer> {
    const s = await startAgiServer(opts);
    open.push(s);
    return s;
  }

  if (!supported) {
    test("workers above 1 on a Node without SO_REUSEPORT: one line, one thread, sessions work", async () => {
      const s = await agi();
      const p = await proxyOn(config([s], 2));
      const line = p.logs.find((r) => r.event === "worker" && r.kind === "not_started");
      assert.ok(line, "a line says why");
      assert.match(String(line.msg), /workers: 2 needs Node >= 22\.12/);
      assert.equal(p.proxy.threads.threads, 1);
      assert.deepEqual(p.proxy.threads.view(), []);
      assert.deepEqual(await sessions(p.port(), 4, 2), ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"]);
    });
    return;
  }

  for (const n of [2, 4]) {
    test(`${n} threads: connections land on every one, and every session is logged once`, async () => {
      const s = await agi({ commands: ["NOOP"] });
      const p = await proxyOn(config([s], n));
      assert.equal(p.proxy.threads.threads, n);
      const statuses = await sessions(p.port(), 200, 20);
      assert.equal(statuses.filter((x) => x === "SUCCESS").length, 200);
      const view = p.proxy.threads.view();
      assert.equal(view.length, n);
      for (const t of view) assert.ok(t.started > 0, `thread ${t.worker} took none: ${JSON.stringify(view)}`);
      assert.equal(
        view.reduce((a, t) => a + t.started, 0),
        200,
      );
      // Workers' session lines reach the main thread's log.
      await until("200 session lines", () => (p.sessions().length >= 200 ? true : undefined));
      assert.equal(p.sessions().length, 200);
      // The admin API and the metrics list every thread.
      const admin = p.proxy.adminAddress;
      assert.ok(admin);
      const status = (await (await fetch(`http://127.0.0.1:${admin.port}/api/v1/status`)).json()) as {
        workers: { worker: number; alive: boolean; sessions_started: number }[];
      };
      assert.deepEqual(
        status.workers.map((w) => w.worker),
        Array.from({ length: n }, (_, i) => i),
      );
      assert.ok(status.workers.every((w) => w.alive && w.sessions_started > 0));
      const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
      let started = 0;
      for (const m of metrics.matchAll(/^trunkline_worker_sessions_started_total\{worker="\d+"\} (\d+)$/gm))
        started += Number(m[1]);
      assert.equal(started, 200);
    });
  }

  test("200 simultaneous connects over 4 threads never exceed max_sessions", async () => {
    const s = await agi({ commands: ["NOOP"], holdOpenMs: 400 });
    const p = await proxyOn(config([s], 4, ", max_sessions: 5"));
    const entry = [...p.proxy.runtime.registry.entries()][0];
    assert.ok(entry);
    let peak = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, entry.active);
    }, 1);
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () => agiCall({ port: p.port(), url: "agi://x/w", timeoutMs: 10_000 })),
    );
    clearInterval(watch);
    assert.ok(s.stats.maxActive <= 5, `the server saw ${s.stats.maxActive} at once`);
    assert.equal(s.stats.maxActive, 5, "the cap was reached");
    assert.ok(peak <= 5, `the shared count reached ${peak}`);
    assert.ok(statuses.filter((r) => r.status === "SUCCESS").length >= 5);
    await until("counts back to 0", () => (entry.active === 0 ? true : undefined));
    const view = p.proxy.threads.view();
    assert.equal(
      view.reduce((a, t) => a + t.sessions, 0),
      0,
    );
  });

  test("a reload under load: every session succeeds, and every thread runs the new config", async () => {
    const a = await agi({ commands: ["NOOP"] });
    const b = await agi({ commands: ["NOOP"] });
    const p = await proxyOn(config([a], 2));
    const port = p.port();
    const load = sessions(port, 400, 16);
    await until("load under way", () => (a.stats.sessions >= 50 ? true : undefined));
    p.writeConfig(config([a, b], 2));
    const r = await p.proxy.reload("test");
    assert.equal(r.kind, "applied");
    const statuses = await load;
    assert.equal(statuses.length, 400);
    assert.deepEqual(
      statuses.filter((x) => x !== "SUCCESS"),
      [],
    );
    const before = b.stats.sessions;
    await sessions(port, 100, 10);
    assert.ok(b.stats.sessions > before, "the new server takes sessions");
    assert.equal(p.port(), port);
  });

  test("a reload that cannot bind is rejected, and every thread runs on the old config", async () => {
    const a = await agi({ commands: ["NOOP"] });
    const p = await proxyOn(config([a], 2));
    // A plain socket (no SO_REUSEPORT) holds a port: no thread can bind it.
    const { createServer } = await import("node:net");
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    open.push({ close: () => new Promise<void>((r) => blocker.close(() => r())) });
    const busy = (blocker.address() as { port: number }).port;
    const yaml = config([a], 2).replace(
      "routes:",
      `  - { name: agi2, protocol: fastagi, listen: 127.0.0.1:${busy} }\nroutes:`,
    );
    p.writeConfig(yaml);
    const r = await p.proxy.reload("test");
    assert.equal(r.kind, "rejected");
    assert.equal(p.proxy.runtime.listener("agi2"), undefined);
    assert.deepEqual(await sessions(p.port(), 20, 4), Array(20).fill("SUCCESS"));
  });

  test("an operator drain on the main thread applies in the workers at once", async () => {
    const a = await agi({ commands: ["NOOP"] });
    const b = await agi({ commands: ["NOOP"] });
    const p = await proxyOn(config([a, b], 4));
    const key = [...p.proxy.runtime.registry.entries()].find((e) => e.address.port === a.port)?.key;
    assert.ok(key);
    p.proxy.runtime.registry.override(key, { admin: "drain", weight: undefined }, "test");
    await p.proxy.threads.sync();
    const before = a.stats.sessions;
    await sessions(p.port(), 100, 10);
    assert.equal(a.stats.sessions, before, "no thread sent a session to the drained server");
  });

  test("a worker killed mid-load is restarted, and the slots its sessions held come back", async () => {
    const s = await agi({ commands: ["NOOP"], holdOpenMs: 60_000 });
    const p = await proxyOn(config([s], 2));
    const entry = [...p.proxy.runtime.registry.entries()][0];
    assert.ok(entry);
    const held = Array.from({ length: 40 }, () =>
      agiCall({ port: p.port(), url: "agi://x/w", timeoutMs: 30_000 }),
    );
    await until("40 sessions held", () => (entry.active === 40 ? true : undefined));
    const onWorker = p.proxy.threads.view()[1]?.sessions ?? 0;
    assert.ok(onWorker > 0 && onWorker < 40, `worker 1 holds ${onWorker}`);
    await p.proxy.threads.kill(1);
    const w = await until("worker 1 back", () => {
      const v = p.proxy.threads.view()[1];
      return v?.alive && v.restarts === 1 ? v : undefined;
    });
    const admin = p.proxy.adminAddress;
    const metrics = await (await fetch(`http://127.0.0.1:${admin?.port}/metrics`)).text();
    assert.match(metrics, /^trunkline_worker_restarts_total\{worker="1"\} 1$/m);
    assert.equal(w.sessions, 0);
    assert.equal(entry.active, 40 - onWorker, "the dead worker's sessions left the count");
    const line = p.logs.find((r) => r.event === "worker" && r.kind === "exited");
    assert.equal(line?.sessions, onWorker);
    // The clients of the killed worker's sessions see their connection end (before any command).
    const ended = await Promise.race([
      Promise.any(held.map((h) => h)),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
    ]);
    assert.ok(ended && ended.closedBy !== "timeout" && ended.commands.length === 0);
    // New sessions work on every thread, the restarted one included.
    const started = p.proxy.threads.view()[1]?.started ?? 0;
    const more = Array.from({ length: 40 }, () =>
      agiCall({ port: p.port(), url: "agi://x/w", timeoutMs: 1000 }),
    );
    await until("the restarted worker takes sessions", () =>
      (p.proxy.threads.view()[1]?.started ?? 0) > started ? true : undefined,
    );
    await Promise.all(more);
  });

  test("HTTP on 2 threads: requests on new connections land on both, each logged once", async (t) => {
    const o = await startOrigin(t, "o");
    const yaml = `workers: 2\n${httpConfig('  - { listener: web, match: { path_prefix: "/" }, pool: web }', pool("web", [o.port]))}`;
    const p = await proxyOn(yaml);
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => get(p.port("web"), `/r${i}`)));
    assert.deepEqual(
      replies.filter((r) => r.status !== 200),
      [],
    );
    assert.equal(o.requests, 100);
    for (const v of p.proxy.threads.view()) assert.ok(v.started > 0, `thread ${v.worker} took none`);
    await until("100 access lines", () => (p.sessions().length >= 100 ? true : undefined));
    assert.equal(p.sessions().length, 100);
  });

  test("a drain (SIGTERM's shutdown) waits for the sessions in flight on every thread", async () => {
    const s = await agi({ commands: ["NOOP"], holdOpenMs: 700 });
    const p = await startProxy(config([s], 2));
    const calls = Array.from({ length: 30 }, () =>
      agiCall({ port: p.port(), url: "agi://x/w", timeoutMs: 10_000 }),
    );
    const entry = [...p.proxy.runtime.registry.entries()][0];
    await until("30 in flight", () => (entry?.active === 30 ? true : undefined));
    const held = p.proxy.threads.view().map((v) => v.sessions);
    assert.ok((held[1] ?? 0) > 0, `worker 1 holds ${held[1]}`);
    await p.proxy.shutdown(Date.now() + 10_000);
    const results = await Promise.all(calls);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(30).fill("SUCCESS"),
    );
    assert.ok(results.every((r) => r.commands.includes("NOOP")));
  });

  // The first failure lands on whichever thread the kernel picks: on a worker it tests the way
  // up (the worker's outcome judged by the main thread), on the main thread the way down (its
  // state mirrored to the worker). Without either, the other thread tries the dead server too.
  test("passive health is shared: a server that failed on one thread is skipped by every thread", async () => {
    const live = await agi({ commands: ["NOOP"] });
    const deadPort = await refusedPort();
    const yaml = config([live], 2)
      .replace("balance: least-sessions", "balance: round-robin\n    max_fails: 1\n    fail_timeout: 60s")
      .replace(
        `      - { address: 127.0.0.1:${live.port} }`,
        `      - { address: 127.0.0.1:${deadPort} }\n      - { address: 127.0.0.1:${live.port} }`,
      );
    const p = await proxyOn(yaml);
    const deadEntry = [...p.proxy.runtime.registry.entries()].find((e) => e.address.port === deadPort);
    assert.ok(deadEntry);
    const failed = () => p.sessions().filter((r) => Array.isArray(r.failed_attempts)).length;
    // One session at a time until one of them tried the dead server (on whichever thread).
    for (let i = 0; i < 20 && failed() === 0; i++) {
      assert.equal((await agiCall({ port: p.port(), url: "agi://x/w" })).status, "SUCCESS");
      await until("its line", () => (p.sessions().length > i ? true : undefined));
    }
    assert.equal(failed(), 1);
    await until("the main thread took it out", () => (deadEntry.downUntil > Date.now() ? true : undefined));
    await p.proxy.threads.sync();
    const started = p.proxy.threads.view().map((v) => v.started);
    assert.deepEqual(await sessions(p.port(), 60, 1), Array(60).fill("SUCCESS"));
    const after = p.proxy.threads.view().map((v) => v.started);
    assert.ok(
      after.every((n, i) => n > (started[i] ?? 0)),
      "both threads took sessions after the failure",
    );
    assert.equal(failed(), 1, "no thread tried the dead server again");
    assert.equal(deadEntry.failures, 1);
  });

  test("a worker restarted while a reload commits ends up on the new config", async () => {
    const a = await agi({ commands: ["NOOP"] });
    const b = await agi({ commands: ["NOOP"] });
    const startedAt = Date.now();
    const p = await proxyOn(config([a], 2));
    assert.deepEqual(await sessions(p.port(), 10, 2), Array(10).fill("SUCCESS"));
    // Past the restart gap (1 s after its start), a dead worker is started again at once: its
    // thread loads while the reload below commits, so it is given the old config first.
    await until("the restart gap past", () => (Date.now() - startedAt > 1100 ? true : undefined));
    await p.proxy.threads.kill(1);
    p.writeConfig(config([b], 2));
    assert.equal((await p.proxy.reload("test")).kind, "applied");
    await until("worker 1 back", () => (p.proxy.threads.view()[1]?.alive ? true : undefined));
    const before = a.stats.sessions;
    const started = p.proxy.threads.view()[1]?.started ?? 0;
    assert.deepEqual(await sessions(p.port(), 60, 4), Array(60).fill("SUCCESS"));
    assert.ok((p.proxy.threads.view()[1]?.started ?? 0) > started, "the restarted worker took sessions");
    assert.equal(a.stats.sessions, before, "no thread sent a session to the server the reload removed");
  });
});
