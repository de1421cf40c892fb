import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, ESL_BACKOFF } from "../../src/health/esl/backoff.ts";
import { parseEventPlain } from "../../src/health/esl/frame.ts";
import { parseHeartbeat } from "../../src/health/esl/heartbeat.ts";
import { DEFAULT_FIGURES, heartbeatBody } from "../helpers/freeswitch-esl.ts";

test("a HEARTBEAT as FreeSWITCH sends it gives its load figures", () => {
  const r = parseHeartbeat(parseEventPlain(heartbeatBody(DEFAULT_FIGURES)), 1234);
  assert.deepEqual(r, {
    ok: true,
    report: {
      sessionCount: 7,
      maxSessions: 1000,
      idleCpu: 97.633333,
      sessionsPerSecLast: 2,
      hostname: "fs-1.example.net",
      at: 1234,
    },
  });
});

test("the three load figures are required; the rate and hostname are optional", () => {
  const base = new Map([
    ["Session-Count", "3"],
    ["Max-Sessions", "100"],
    ["Idle-CPU", "50.5"],
  ]);
  assert.deepEqual(parseHeartbeat(base, 0), {
    ok: true,
    report: { sessionCount: 3, maxSessions: 100, idleCpu: 50.5, at: 0 },
  });
  for (const name of ["Session-Count", "Max-Sessions", "Idle-CPU"]) {
    const without = new Map(base);
    without.delete(name);
    assert.deepEqual(parseHeartbeat(without, 0), { ok: false, reason: `heartbeat without ${name}` });
    for (const bad of ["", "abc", "-1", "Infinity"]) {
      const r = parseHeartbeat(new Map([...base, [name, bad]]), 0);
      assert.equal(r.ok, false, `${name}: ${JSON.stringify(bad)}`);
    }
  }
  const r = parseHeartbeat(new Map([...base, ["Session-Per-Sec-Last", "x"]]), 0);
  assert.equal(r.ok && r.report.sessionsPerSecLast, undefined, "a bad rate is dropped, not fatal");
});

test("backoff: 150 ms × 1.7 per failure, capped at 60 s", () => {
  const delays = Array.from({ length: 14 }, (_, i) => backoffDelay(i));
  assert.deepEqual(delays.slice(0, 4), [150, 255, 434, 737]);
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!);
  assert.equal(backoffDelay(12), 60_000);
  assert.equal(backoffDelay(1_000_000), 60_000, "no overflow however long it fails");
  assert.equal(backoffDelay(3, { baseMs: 5, factor: 2, maxMs: 30 }), 30);
  assert.deepEqual(ESL_BACKOFF, { baseMs: 150, factor: 1.7, maxMs: 60_000 });
});
