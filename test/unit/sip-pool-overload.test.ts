import assert from "node:assert/strict";
import { test } from "node:test";
import { LeastLoad } from "../../src/balance/least-load.ts";
import { LeastSessions } from "../../src/balance/least-sessions.ts";
import { buildPools, type Pool } from "../../src/balance/pool.ts";
import type { PoolConfig } from "../../src/config/types.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";
import type { ServerEntry } from "../../src/servers/server.ts";
import { poolConfig, type ServerSpec } from "../helpers/sip-pool.ts";

/** A pool and its entries, no sockets: health set by hand as the checks would set it. */
function make(specs: readonly ServerSpec[], o: Parameters<typeof poolConfig>[1] = {}) {
  const registry = new ServerRegistry(() => {});
  const cfg: PoolConfig = poolConfig(specs, o);
  const pool = buildPools(new Map([[cfg.name, cfg]]), registry).get(cfg.name) as Pool;
  const s = specs.map((sp) => registry.get(`127.0.0.1:${sp.port}`) as ServerEntry);
  const pick = (tried: ReadonlySet<unknown> = new Set()) =>
    pool.acquire("", tried as ReadonlySet<never>)?.key;
  return { pool, s, pick, registry };
}

const A = "127.0.0.1:5061";
const B = "127.0.0.1:5062";

test("overload is not death: a sip pool whose every server is health-down still places calls on them", () => {
  const { s, pick, pool } = make([{ port: 5061 }, { port: 5062 }]);
  s[0]!.setHealth("down", "sip-options: no answer within 1000ms");
  s[1]!.setEslDown("esl: no heartbeat for 60s", "esl: no heartbeat for 60s");
  assert.deepEqual(new Set([pick(), pick()]), new Set([A, B]));
  assert.deepEqual(
    pool.preview("").map((m) => m.key),
    [A, B],
    "the preview shows the down ones too",
  );
});

test("overload is not death: a FastAGI pool keeps strict health (no server, no call)", () => {
  const { s, pick, pool } = make([{ port: 5061 }, { port: 5062 }], { protocol: "fastagi" });
  for (const e of s) e.setHealth("down", "tcp check: ECONNREFUSED");
  assert.equal(pick(), undefined);
  assert.deepEqual(pool.preview(""), []);
});

test("overload is not death: drain, maint, agent admin and full servers stay out; only health is set aside", () => {
  const { s, pick, registry } = make([{ port: 5061 }, { port: 5062, maxSessions: 1 }, { port: 5063 }]);
  for (const e of s) e.setHealth("down", "no answer");
  s[0]!.setOperator({ admin: "drain", weight: undefined }, "operator");
  assert.ok(registry.acquire(s[1]!)); // 5062 at its max_sessions
  s[2]!.setAgentAdmin("maint", "agent: maint");
  assert.equal(pick(), undefined, "every server is out for a reason other than health");
  s[2]!.setAgentAdmin("ready", "agent: ready");
  assert.equal(pick(), "127.0.0.1:5063");
});

test("overload is not death: while a server is up, the down ones get nothing, even once the up one was tried", () => {
  const { s, pick, pool } = make([{ port: 5061 }, { port: 5062 }]);
  s[1]!.setHealth("down", "no answer");
  assert.equal(pick(), A);
  const a = pool.servers[0]!;
  assert.equal(pick(new Set([a])), undefined, "a tried and failed: no fallback to the down one");
});

test("overload is not death: backups that are up come before primaries that are down", () => {
  const { s, pick } = make([{ port: 5061 }, { port: 5062, backup: true }]);
  s[0]!.setHealth("down", "no answer");
  assert.equal(pick(), B);
  s[1]!.setHealth("down", "no answer");
  assert.equal(pick(), A, "all down: primaries first again");
});

test("least-sessions: sip pools with event sockets rank by load reports (LeastLoad), others keep plain least-sessions", () => {
  const sip = make([
    { port: 5061, esl: { port: 8021 } },
    { port: 5062, esl: { port: 8022 } },
  ]);
  const agi = make([{ port: 5061 }, { port: 5062 }], { protocol: "fastagi" });
  assert.ok(sip.pool.balancer instanceof LeastLoad);
  assert.ok(agi.pool.balancer instanceof LeastSessions);
  assert.ok(
    make([{ port: 5061 }, { port: 5062 }]).pool.balancer instanceof LeastSessions,
    "no esl: no scoring",
  );
  const now = Date.now();
  for (const { s } of [sip, agi]) {
    s[0]!.setLoadReport({ sessionCount: 90, maxSessions: 100, idleCpu: 90, at: now });
    s[1]!.setLoadReport({ sessionCount: 10, maxSessions: 100, idleCpu: 90, at: now });
  }
  assert.deepEqual([sip.pick(), sip.pick(), sip.pick()], [B, B, B], "by report");
  assert.deepEqual(new Set([agi.pick(), agi.pick()]), new Set([A, B]), "reports ignored");
  assert.equal(sip.s[1]!.routedSinceReport, 3);
});

test("least-sessions in a sip pool: without reports (or with a stale one) it is plain least-sessions", () => {
  const { s, pick } = make([{ port: 5061 }, { port: 5062 }]);
  assert.deepEqual(new Set([pick(), pick()]), new Set([A, B]));
  // One box's report is 61 s old (older than 3 heartbeats): scores cannot be compared.
  s[0]!.setLoadReport({ sessionCount: 0, maxSessions: 100, idleCpu: 100, at: Date.now() - 61_000 });
  s[1]!.setLoadReport({ sessionCount: 99, maxSessions: 100, idleCpu: 1, at: Date.now() });
  assert.deepEqual(new Set([pick(), pick()]), new Set([A, B]));
});

test("overload is not death, but death is: a server whose checks were refused is not among the down ones used", () => {
  const { s, pick, pool } = make([{ port: 5061 }, { port: 5062 }]);
  s[0]!.setHealth("down", "sip-options: no answer within 1000ms");
  s[1]!.setHealth("down", "sip-options: refused (ICMP port unreachable)");
  assert.deepEqual([pick(), pick()], [A, A], "only the slow one");
  assert.deepEqual(
    pool.preview("").map((m) => m.key),
    [A],
  );
  s[0]!.restateHealth("sip-options: refused (ECONNREFUSED)");
  assert.equal(pick(), undefined, "both gone: no server (503), not a call into nothing");
});
