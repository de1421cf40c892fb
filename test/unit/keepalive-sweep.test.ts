import assert from "node:assert/strict";
import { test } from "node:test";
import { sweepKeepAlive, sweepPeriodMs } from "../../src/net/keepalive-sweep.ts";
import { LinkedSet } from "../../src/net/linked-set.ts";
import type { SessionInfo, StreamSession } from "../../src/net/stream-session.ts";

/** A session that only counts the keep-alive calls it gets. */
function fake(startedAt: number): StreamSession & { calls: number } {
  return {
    startedAt,
    calls: 0,
    keepAlive() {
      this.calls++;
    },
    destroy() {},
    info: () => ({}) as SessionInfo,
  };
}

test("a round turns keep-alive on for the sessions at least `after` old, and stops at the first younger", () => {
  const sessions = new LinkedSet<StreamSession>();
  // In accept order; the last one's clock stepped back: the walk never reaches it.
  const s = [fake(1_000), fake(2_000), fake(2_500), fake(2_600), fake(500)];
  for (const x of s) sessions.add(x);
  sweepKeepAlive(sessions, 1_000, 3_000);
  assert.deepEqual(
    s.map((x) => x.calls),
    [1, 1, 0, 0, 0],
  );
  sweepKeepAlive(sessions, 1_000, 3_500);
  assert.deepEqual(
    s.map((x) => x.calls),
    [2, 2, 1, 0, 0],
    "exactly `after` old counts; the session decides whether a second call costs anything",
  );
  sweepKeepAlive(new LinkedSet<StreamSession>(), 1_000, 3_500);
});

test("the period is half the threshold, at least 50 ms and at most 15 s", () => {
  assert.equal(sweepPeriodMs(30_000), 15_000);
  assert.equal(sweepPeriodMs(3_600_000), 15_000);
  assert.equal(sweepPeriodMs(1_000), 500);
  assert.equal(sweepPeriodMs(1), 50);
});
