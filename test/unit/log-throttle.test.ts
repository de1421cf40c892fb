import assert from "node:assert/strict";
import { test } from "node:test";
import { LogThrottle } from "../../src/observe/log-throttle.ts";
import { until } from "../helpers/proxy.ts";

test("one line per key per interval; what it left out is flushed once at the interval's end", async () => {
  let now = 10_000;
  const flushed: [string, number][] = [];
  const t = new LogThrottle(
    (key, n) => flushed.push([key, n]),
    40,
    () => now,
  );
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), true);
  for (let i = 0; i < 5; i++) assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), false);
  assert.equal(t.pass("web\nE_CONNECTION_LIMIT"), true, "another key has its own interval");
  // The flush timer runs on real time; the injected clock only says when lines came.
  await until(() => flushed.length === 1, 2_000, "the flush");
  assert.deepEqual(flushed, [["agi\nE_CONNECTION_LIMIT", 5]]);
  // Right after a flush, lines are still held back until the interval from it has passed.
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), false);
  await until(() => flushed.length === 2, 2_000, "the second flush");
  assert.deepEqual(flushed[1], ["agi\nE_CONNECTION_LIMIT", 1]);
  now += 40;
  assert.equal(t.pass("agi\nE_CONNECTION_LIMIT"), true, "a quiet interval later, a line passes");
  assert.equal(t.pass("web\nE_CONNECTION_LIMIT"), true);
  assert.equal(flushed.length, 2, "nothing left out, nothing flushed");
});

test("close() says what is still held back, at once", () => {
  const flushed: [string, number][] = [];
  const t = new LogThrottle((key, n) => flushed.push([key, n]), 60_000);
  t.pass("k");
  t.pass("k");
  t.pass("k");
  t.close();
  assert.deepEqual(flushed, [["k", 2]]);
});
