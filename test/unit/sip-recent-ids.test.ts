import assert from "node:assert/strict";
import { test } from "node:test";
import { type CallRecord, CallTable } from "../../src/protocols/sip/calls.ts";
import { RecentIds } from "../../src/protocols/sip/recent-ids.ts";

test("RecentIds keeps the last `max` ids added; an id added again counts from its latest add", () => {
  const r = new RecentIds(3);
  for (const id of ["a", "b", "c"]) r.add(id);
  assert.deepEqual(
    ["a", "b", "c"].map((id) => r.has(id)),
    [true, true, true],
  );
  r.add("d");
  assert.equal(r.has("a"), false, "the oldest goes first");
  assert.equal(r.size, 3);
  r.add("b"); // b again: now the newest
  r.add("e");
  assert.deepEqual(
    ["b", "c", "d", "e"].map((id) => r.has(id)),
    [true, false, true, true],
  );
  r.add("f");
  r.add("g");
  // b's first place was reused long ago; its second one goes only now.
  assert.deepEqual(
    ["b", "e", "f", "g"].map((id) => r.has(id)),
    [false, true, true, true],
  );
  assert.equal(r.size, 3);
});

function call(i: number): CallRecord {
  return {
    callId: `ended-${i}@127.0.0.1`,
    inviteKey: undefined,
    client: "127.0.0.1:5080",
    request: "sip:bob@127.0.0.1",
    from: "<sip:alice@127.0.0.1>;tag=a",
    to: "<sip:bob@127.0.0.1>",
    route: undefined,
    pool: "fs",
    server: undefined,
    startedAt: 0,
    setupMs: undefined,
    finalCode: undefined,
    release: undefined,
    failures: [],
  };
}

/** Milliseconds for `n` calls added and ended, from call number `from`. */
function cycle(table: CallTable, from: number, n: number): number {
  const t = performance.now();
  for (let i = from; i < from + n; i++) {
    table.add(call(i));
    table.end(`ended-${i}@127.0.0.1`, "bye", 0);
  }
  return performance.now() - t;
}

test("a call ending once 100,000 have ended costs what it did before: the oldest Call-ID is forgotten in constant time", () => {
  const table = new CallTable(10, 3_600_000, () => {});
  const BELOW = 20_000;
  const AT_CAP = 150_000;
  const below = cycle(table, 0, BELOW) / BELOW;
  cycle(table, BELOW, 100_000 - BELOW); // the remembered Call-IDs reach their cap
  const atCap = cycle(table, 100_000, AT_CAP) / AT_CAP;
  assert.equal(table.endedLately(`ended-${100_000 + AT_CAP - 1}@127.0.0.1`), true);
  assert.equal(table.endedLately(`ended-${AT_CAP - 1}@127.0.0.1`), false, "the oldest are forgotten");
  // Emptying a Set from its front skipped the deleted entries before the first live one:
  // tens of µs a call at the cap, against about 1 µs below it.
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  assert.ok(atCap < 5 * below + 0.005, `a call took ${us(atCap)} at the cap, ${us(below)} below it`);
});
