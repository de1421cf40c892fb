import assert from "node:assert/strict";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const cfg = (servers: number[], extra = "") => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    servers: [ ${servers.map((p) => `{ address: 127.0.0.1:${p} }`).join(", ")} ]
${extra}`;

test("a reload swaps routes and pools; sessions in flight are untouched and counts carry over", async () => {
  const a = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 600 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  const p = await startProxy(cfg([a.port]));
  cleanup.push(p.close);
  const inflight = agiCall({ port: p.port(), url: "agi://x/y", timeoutMs: 5000 });
  await until(() => a.stats.active === 1, 2000, "session on a");
  const stateA = p.proxy.runtime.generation.pools.get("main")!.servers[0]!;
  assert.equal(stateA.active, 1);

  // Keep a, add b: a's count carries over into the new generation.
  p.writeConfig(cfg([a.port, b.port]));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  const gen2 = p.proxy.runtime.generation.pools.get("main")!;
  assert.equal(gen2.servers[0], stateA);
  assert.equal(gen2.servers[0]!.active, 1);
  // Least-sessions sends the next session to b (a is busy).
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 1);

  // Remove a while its session runs: the session finishes normally, its count is released.
  p.writeConfig(cfg([b.port]));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  const r = await inflight;
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP", "NOOP"]);
  await until(() => stateA.active === 0, 2000, "removed server's count released");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 1);
  assert.equal(b.stats.sessions, 2);
});

test("a config that fails validation is rejected with a clear log line and the running one stays", async () => {
  const a = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close);
  const p = await startProxy(cfg([a.port]));
  cleanup.push(p.close);
  p.writeConfig(cfg([a.port]).replace("pool: main", "pool: missing"));
  const r = await p.proxy.reload("test");
  assert.equal(r.kind, "rejected");
  const line = await p.waitForLog((l) => l.event === "reload" && l.level === "error");
  assert.match(String(line.error), /trunkline\.yaml:3:\d+ routes\[0\]\.pool: no pool named "missing"/);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
});

test("a change of the config file is picked up by the watcher (editors replace files)", async () => {
  const a = await startAgiServer({ commands: ["NOOP"] });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  const p = await startProxy(cfg([a.port]), { watch: true });
  cleanup.push(p.close);
  p.writeConfig(cfg([b.port]));
  await p.waitForLog((l) => l.event === "reload" && l.msg === "configuration reloaded", 4000);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 1);
  assert.equal(a.stats.sessions, 0);
});

test("reload under traffic: 60 sessions across 6 reloads, none dropped, counts back to zero", async () => {
  const a = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 50 });
  const b = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 50 });
  cleanup.push(a.close, b.close);
  const p = await startProxy(cfg([a.port, b.port]));
  cleanup.push(p.close);
  const calls: Promise<{ status: string }>[] = [];
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 10; i++) calls.push(agiCall({ port: p.port(), url: "agi://x/y", timeoutMs: 8000 }));
    p.writeConfig(
      cfg(round % 2 === 0 ? [b.port] : [a.port, b.port], `    connect_timeout: ${500 + round}ms\n`),
    );
    assert.equal((await p.proxy.reload("test")).kind, "applied");
    await new Promise((r) => setTimeout(r, 20));
  }
  const results = await Promise.all(calls);
  assert.equal(results.filter((r) => r.status === "SUCCESS").length, 60);
  await until(() => p.proxy.runtime.activeSessions === 0, 3000, "all ended");
  for (const s of p.proxy.runtime.generation.pools.get("main")!.servers) assert.equal(s.active, 0);
  assert.equal(a.stats.sessions + b.stats.sessions, 60);
});
