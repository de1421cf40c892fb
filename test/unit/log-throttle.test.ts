import assert from "node:assert/strict";
import { test } from "node:test";
import { LogThrottle } from "../../src/observe/log-throttle.ts";

test("one line per key per interval; the next one says how many were left out", () => {
  let now = 10_000;
  const t = new LogThrottle(1_000, () => now);
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), 0);
  for (let i = 0; i < 5; i++) assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), undefined);
  assert.equal(t.pass("web\nE_CONNECTION_LIMIT"), 0, "another key has its own interval");
  now += 999;
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), undefined);
  now += 1;
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), 6, "the five and the one at 999 ms");
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), undefined);
  now += 5_000;
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), 1);
  assert.equal(t.pass("web\nE_CONNECTION_LIMIT"), 0);
});
