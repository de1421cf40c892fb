import assert from "node:assert/strict";
import { after, test } from "node:test";
import { replyingAgent } from "../helpers/agent.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("max_sessions holds across generations: a pool that leaves the config and returns cannot reset a count", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 800 });
  const other = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, other.close);
  const withPool = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: capped } ]
pools: { capped: { servers: [ { address: 127.0.0.1:${a.port}, max_sessions: 2 } ] } }
`;
  const without = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: elsewhere } ]
pools: { elsewhere: { servers: [ { address: 127.0.0.1:${other.port} } ] } }
`;
  const p = await startProxy(withPool);
  cleanup.push(p.close);
  const port = p.port();
  const held = [agiCall({ port, url: "agi://x/1" }), agiCall({ port, url: "agi://x/2" })];
  await until(() => a.stats.sessions === 2, 3000, "two sessions held on a");
  p.writeConfig(without);
  assert.equal((await p.proxy.reload("pool gone")).kind, "applied");
  p.writeConfig(withPool);
  assert.equal((await p.proxy.reload("pool back")).kind, "applied");
  const more = await Promise.all([agiCall({ port, url: "agi://x/3" }), agiCall({ port, url: "agi://x/4" })]);
  assert.deepEqual(
    more.map((r) => r.status),
    ["FAILURE", "FAILURE"],
    "the two held sessions still fill the server",
  );
  for (const r of await Promise.all(held)) assert.equal(r.status, "SUCCESS");
  assert.equal(a.stats.maxActive, 2);
  await until(() => p.proxy.runtime.registry.get(`127.0.0.1:${a.port}`)?.active === 0, 3000, "released");
});

test("a server listed in two pools is one server: one session count and one max_sessions across both", async () => {
  const s = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 500 });
  cleanup.push(s.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { path: ^/a }, pool: a }
  - { listener: agi, pool: b }
pools:
  a: { servers: [ { address: 127.0.0.1:${s.port}, max_sessions: 1 } ] }
  b: { servers: [ { address: 127.0.0.1:${s.port} } ] }
`);
  cleanup.push(p.close);
  const first = agiCall({ port: p.port(), url: "agi://x/a" });
  await until(() => s.stats.sessions === 1, 3000, "one session through pool a");
  const viaB = await agiCall({ port: p.port(), url: "agi://x/b" });
  assert.equal(viaB.status, "FAILURE", "pool b sees the server full");
  assert.equal((await first).status, "SUCCESS");
  const [ma] = p.proxy.runtime.generation.pools.get("a")!.servers;
  const [mb] = p.proxy.runtime.generation.pools.get("b")!.servers;
  assert.equal(ma!.server, mb!.server);
  assert.equal(ma!.total, 1);
});

test("pools that disagree on a server's max_sessions are a config error", async () => {
  const p = startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, match: { path: ^/a }, pool: a }, { listener: agi, pool: b } ]
pools:
  a: { servers: [ { address: 127.0.0.1:4999, max_sessions: 1 } ] }
  b: { servers: [ { address: 127.0.0.1:4999, max_sessions: 2 } ] }
`);
  await assert.rejects(
    p,
    /pools\.b\.servers\[0\]\.max_sessions: 127\.0\.0\.1:4999 has max_sessions 1 in pool "a"/,
  );
});

test("an operator drain survives reloads, agent polls, the removal of health checks and a pool rename, until lifted", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 400 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  const agent = await replyingAgent();
  cleanup.push(a.close, b.close, agent.close);
  const cfg = (pool: string, health: boolean) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: ${pool} } ]
pools:
  ${pool}:
    balance: failover
${health ? `    health: { interval: 100ms, timeout: 300ms, checks: [ { agent: ${agent.port} } ] }\n` : ""}    servers: [ { address: 127.0.0.1:${a.port} }, { address: 127.0.0.1:${b.port} } ]
`;
  const p = await startProxy(cfg("main", true));
  cleanup.push(p.close);
  const key = `127.0.0.1:${a.port}`;
  const open = agiCall({ port: p.port(), url: "agi://x/open" });
  await until(() => a.stats.sessions === 1, 3000, "a session on a");
  assert.ok(
    p.proxy.runtime.registry.override(key, { admin: "drain", weight: undefined }, "operator: deploy"),
  );
  const line = await p.waitForLog((l) => l.event === "server_state" && l.layer === "operator");
  assert.equal(line.to, "drain");

  const polled = agent.hits();
  await until(() => agent.hits() >= polled + 2, 3000, "the agent said up ready twice more");
  const during = await agiCall({ port: p.port(), url: "agi://x/new" });
  assert.equal(during.status, "SUCCESS");
  assert.equal(b.stats.sessions, 1, "the drained server got no new session");
  assert.equal((await open).status, "SUCCESS", "its open session carried on");

  p.writeConfig(cfg("main", false));
  assert.equal((await p.proxy.reload("health removed")).kind, "applied");
  p.writeConfig(cfg("renamed", false));
  assert.equal((await p.proxy.reload("pool renamed")).kind, "applied");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/again" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 1, "still drained after reloads and a rename");
  assert.equal(b.stats.sessions, 2);

  p.proxy.runtime.registry.override(key, { admin: undefined, weight: undefined }, "operator: done");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/back" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 2, "lifted: the first server of a failover pool takes it again");
});
