import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { buildPools } from "../../src/balance/pool.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";
import type { ServerChange } from "../../src/servers/types.ts";

const T0 = 1_000_000;

function registry(): { reg: ServerRegistry; changes: ServerChange[] } {
  const changes: ServerChange[] = [];
  return { reg: new ServerRegistry((c) => changes.push(c)), changes };
}

function entry(reg: ServerRegistry, max = 0) {
  reg.sync([
    {
      name: "p",
      servers: [
        { key: "10.0.0.1:4573", address: { host: "10.0.0.1", port: 4573 }, weight: 1, maxSessions: max },
      ],
    },
  ]);
  return reg.get("10.0.0.1:4573")!;
}

test("passive layer: max_fails failures in a row take a server out for fail_timeout, on an injected clock", () => {
  const { reg, changes } = registry();
  const s = entry(reg);
  s.recordPassive(false, "refused", 3, 10_000, T0);
  s.recordPassive(false, "refused", 3, 10_000, T0 + 1);
  assert.equal(s.canTake(T0 + 2), true, "two failures are not three");
  s.recordPassive(false, "refused", 3, 10_000, T0 + 2);
  assert.equal(s.canTake(T0 + 3), false);
  assert.equal(s.canTake(T0 + 2 + 9_999), false);
  assert.equal(s.canTake(T0 + 2 + 10_000), true, "tried again after fail_timeout");
  assert.deepEqual(
    changes.map((c) => [c.layer, c.what, c.from, c.to]),
    [["passive", "passive", "up", "down"]],
  );
  s.recordPassive(true, "session connected", 3, 10_000, T0 + 20_000);
  assert.equal(changes.at(-1)?.to, "up");
});

test("health layer: rise and fall count consecutive results; the last probe is kept with its time", () => {
  const { reg } = registry();
  const s = entry(reg);
  for (let i = 0; i < 2; i++) s.recordCheck(false, "refused", 2, 3, T0 + i);
  assert.equal(s.health, "up", "two failures of fall 3");
  s.recordCheck(false, "refused", 2, 3, T0 + 2);
  assert.equal(s.health, "down");
  s.recordCheck(true, "ok", 2, 3, T0 + 3);
  assert.equal(s.health, "down", "one success of rise 2");
  s.recordCheck(true, "ok", 2, 3, T0 + 4);
  assert.equal(s.health, "up");
  assert.deepEqual(s.lastProbe, { ok: true, at: T0 + 4, reason: "ok" });
});

test("layers: the operator wins over the agent, and resetting checks keeps the operator's word", () => {
  const { reg, changes } = registry();
  const s = entry(reg);
  s.setAgentAdmin("drain", "agent: drain");
  assert.equal(s.admin, "drain");
  assert.equal(s.adminLayer, "agent");
  s.setOperator({ admin: "ready", weight: 7 }, "operator: ready");
  assert.equal(s.admin, "ready");
  assert.equal(s.adminLayer, "operator");
  assert.equal(s.weightFor(100), 7);
  s.setAgentAdmin("maint", "agent: maint");
  assert.equal(s.admin, "ready", "an agent poll does not undo the operator");
  s.resetChecks("health checks removed");
  assert.equal(s.admin, "ready");
  assert.equal(s.agentAdmin, undefined);
  s.setOperator({ admin: undefined, weight: undefined }, "operator: lifted");
  assert.equal(s.admin, "ready");
  assert.equal(s.weightFor(100), 100);
  assert.ok(changes.some((c) => c.layer === "operator" && c.what === "weight" && c.to === "7"));
});

test("counts are integer slots with one writer: acquire honours the effective cap, a dropped entry takes none", () => {
  const { reg } = registry();
  const s = entry(reg, 2);
  assert.equal(reg.acquire(s), true);
  assert.equal(reg.acquire(s), true);
  assert.equal(reg.acquire(s), false, "max_sessions 2");
  s.setAgentMaxconn(1, "agent: maxconn:1");
  reg.release(s);
  assert.equal(reg.acquire(s), false, "the agent's cap of 1 is lower");
  reg.release(s);
  reg.sync([]);
  assert.equal(reg.get(s.key), undefined, "nothing holds it any more");
  assert.equal(reg.acquire(s), false, "an older generation's pool cannot count on it");
});

test("hash_key is compiled once, in the snapshot", () => {
  const snap = parseConfigText(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: h } ]
pools: { h: { balance: hash, hash_key: "\${agi_callerid}-\${agi_context}", servers: [ { address: 10.0.0.1 } ] } }
`,
    "t.yaml",
  );
  const pool = snap.pools.get("h")!;
  const vars = new Map([
    ["agi_callerid", "+4930123"],
    ["agi_context", "inbound"],
  ]);
  assert.equal(pool.hashKeyOf(vars), "+4930123-inbound");
  const pools = buildPools(snap.pools, new ServerRegistry(() => {}));
  assert.equal(pools.get("h")!.config.hashKeyOf, pool.hashKeyOf, "the session uses the snapshot's function");
});
