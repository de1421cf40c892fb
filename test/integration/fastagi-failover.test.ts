import assert from "node:assert/strict";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { refusedPort, startBlackhole } from "../helpers/blackhole.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("refused and timed-out connects fail over to the next server, each tried once", async () => {
  const refused = await refusedPort();
  const hole = await startBlackhole();
  cleanup.push(hole.close);
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    connect_timeout: 200ms
    servers:
      - { address: 127.0.0.1:${refused} }
      - { address: 127.0.0.1:${hole.port} }
      - { address: 127.0.0.1:${up.port} }
`);
  cleanup.push(p.close);
  const r = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP"]);
  const s = await p.waitForLog((l) => l.event === "session");
  assert.equal(s.server, `127.0.0.1:${up.port}`);
  const attempts = s.failed_attempts as { server: string; error: string }[];
  assert.deepEqual(
    attempts.map((a) => a.server),
    [`127.0.0.1:${refused}`, `127.0.0.1:${hole.port}`],
  );
  assert.match(attempts[0]!.error, /ECONNREFUSED/);
  assert.match(attempts[1]!.error, /no connection within 200ms/);
});

test("when no server can take the session Asterisk gets FAILURE (AGISTATUS=FAILURE) and the socket closes", async () => {
  const a = await refusedPort();
  const b = await refusedPort();
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    servers: [ { address: 127.0.0.1:${a} }, { address: 127.0.0.1:${b}, backup: true } ]
`);
  cleanup.push(p.close);
  const r = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(r.status, "FAILURE");
  assert.equal(r.raw.toString(), "FAILURE\n");
  const s = await p.waitForLog((l) => l.event === "session");
  assert.equal(s.outcome, "failure_no_server");
  assert.equal((s.failed_attempts as unknown[]).length, 2);
});

test("a server that keeps failing is marked down, skipped, and retried after fail_timeout", async () => {
  const dead = await refusedPort();
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    max_fails: 2
    fail_timeout: 1500ms
    servers: [ { address: 127.0.0.1:${dead} }, { address: 127.0.0.1:${up.port} } ]
`);
  cleanup.push(p.close);
  for (let i = 0; i < 2; i++)
    assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  await p.waitForLog((l) => l.event === "server_state" && l.what === "passive" && l.to === "down");
  await agiCall({ port: p.port(), url: "agi://x/y" });
  await p.waitForLog(() => p.sessions().length === 3);
  const third = p.sessions()[2]!;
  assert.equal(third.failed_attempts, undefined, "the down server was skipped");
  // fail_timeout long enough that the third call lands inside it on a busy machine; then
  // wait on the server's own clock of it, not a sleep of a guessed length.
  const deadEntry = p.proxy.runtime.generation.pools.get("main")!.servers[0]!.server;
  await until(() => Date.now() > deadEntry.downUntil, 5_000, "fail_timeout over");
  await agiCall({ port: p.port(), url: "agi://x/y" });
  await p.waitForLog(() => p.sessions().length === 4);
  const fourth = p.sessions()[3]!;
  assert.equal((fourth.failed_attempts as unknown[]).length, 1, "retried after fail_timeout");
});

test("max_sessions holds exactly under a burst of 50 simultaneous connects; backups take the overflow", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 300 });
  const b = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 300 });
  const backup = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 300 });
  cleanup.push(a.close, b.close, backup.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    servers:
      - { address: 127.0.0.1:${a.port}, max_sessions: 2 }
      - { address: 127.0.0.1:${b.port}, max_sessions: 2 }
      - { address: 127.0.0.1:${backup.port}, max_sessions: 5, backup: true }
`);
  cleanup.push(p.close);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => agiCall({ port: p.port(), url: "agi://x/y", timeoutMs: 8000 })),
  );
  const ok = results.filter((r) => r.status === "SUCCESS").length;
  const failed = results.filter((r) => r.status === "FAILURE").length;
  // The caps hold under the burst; how many sessions a slot serves in turn depends on timing.
  assert.ok(a.stats.maxActive <= 2 && b.stats.maxActive <= 2, "primaries never above max_sessions");
  assert.ok(backup.stats.maxActive <= 5, "backup never above max_sessions");
  assert.ok(backup.stats.sessions > 0, "the backup took the overflow");
  assert.ok(ok >= 9, `at least the 9 slots served (${ok})`);
  assert.equal(ok + failed, 50);
  assert.equal(a.stats.sessions + b.stats.sessions + backup.stats.sessions, ok);
  await until(() => p.proxy.runtime.activeSessions === 0, 3000, "sessions ended");
  for (const s of p.proxy.runtime.generation.pools.get("main")!.servers)
    assert.equal(s.active, 0, `${s.key} count back to 0`);
});

test("least-sessions keeps counts exact with many sessions at once and spreads by weight", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 400 });
  const b = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 400 });
  cleanup.push(a.close, b.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    servers: [ { address: 127.0.0.1:${a.port}, weight: 2 }, { address: 127.0.0.1:${b.port}, weight: 1 } ]
`);
  cleanup.push(p.close);
  const calls = Array.from({ length: 30 }, () =>
    agiCall({ port: p.port(), url: "agi://x/y", timeoutMs: 8000 }),
  );
  await until(
    () => p.proxy.runtime.generation.pools.get("main")!.servers.reduce((n, s) => n + s.active, 0) === 30,
    4000,
    "30 active",
  );
  const [sa, sb] = p.proxy.runtime.generation.pools.get("main")!.servers;
  assert.equal(sa!.active, 20);
  assert.equal(sb!.active, 10);
  const results = await Promise.all(calls);
  assert.ok(results.every((r) => r.status === "SUCCESS"));
  assert.equal(a.stats.sessions, 20);
  assert.equal(b.stats.sessions, 10);
  await until(() => sa!.active === 0 && sb!.active === 0, 3000, "counts back to zero");
});
