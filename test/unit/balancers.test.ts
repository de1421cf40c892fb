import assert from "node:assert/strict";
import { test } from "node:test";
import { Failover } from "../../src/balance/failover.ts";
import { ConsistentHash } from "../../src/balance/hash.ts";
import { LeastSessions } from "../../src/balance/least-sessions.ts";
import { RoundRobin } from "../../src/balance/round-robin.ts";

interface S {
  key: string;
  active: number;
  weight: number;
}
const mk = (key: string, weight = 1, active = 0): S => ({ key, weight, active });

test("smooth weighted round robin spreads 5:1:1 without bursts", () => {
  const rr = new RoundRobin<S>();
  const all = [mk("a", 5), mk("b", 1), mk("c", 1)];
  rr.setServers(all);
  const seq = Array.from({ length: 7 }, () => rr.pick(all)?.key).join("");
  assert.equal(seq, "aabacaa");
  const counts = new Map<string, number>();
  for (let i = 0; i < 700; i++) {
    const k = rr.pick(all)!.key;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assert.deepEqual([counts.get("a"), counts.get("b"), counts.get("c")], [500, 100, 100]);
});

test("round robin preview does not advance the rotation", () => {
  const rr = new RoundRobin<S>();
  const all = [mk("a"), mk("b"), mk("c")];
  rr.setServers(all);
  assert.deepEqual(
    rr.order(all).map((s) => s.key),
    ["a", "b", "c"],
  );
  assert.equal(rr.pick(all)?.key, "a");
  assert.deepEqual(
    rr.order(all).map((s) => s.key),
    ["b", "c", "a"],
  );
});

test("least-sessions picks the lowest active/weight and takes turns on ties", () => {
  const ls = new LeastSessions<S>();
  const a = mk("a", 2, 3);
  const b = mk("b", 1, 1);
  const c = mk("c", 1, 2);
  assert.equal(ls.pick([a, b, c])?.key, "b"); // 1.5, 1, 2
  const x = mk("x");
  const y = mk("y");
  const picks = [ls.pick([x, y])?.key, ls.pick([x, y])?.key, ls.pick([x, y])?.key, ls.pick([x, y])?.key];
  assert.deepEqual(new Set(picks), new Set(["x", "y"]));
  assert.notEqual(picks[0], picks[1]);
});

test("failover takes the first candidate in order", () => {
  const f = new Failover<S>();
  assert.equal(f.pick([mk("a"), mk("b")])?.key, "a");
  assert.equal(f.pick([mk("b")])?.key, "b");
});

test("consistent hash: same key same server; removing one server moves only its keys", () => {
  const h = new ConsistentHash<S>();
  const all = [mk("a"), mk("b"), mk("c"), mk("d")];
  h.setServers(all);
  const before = new Map<string, string>();
  for (let i = 0; i < 2000; i++) before.set(`caller${i}`, h.pick(all, `caller${i}`)!.key);
  assert.equal(h.pick(all, "caller42")?.key, before.get("caller42"));
  const share = [...before.values()].filter((k) => k === "a").length;
  assert.ok(share > 300 && share < 700, `share of a: ${share}`);
  const without = all.filter((s) => s.key !== "b");
  let moved = 0;
  for (const [k, v] of before) {
    const now = h.pick(without, k)!.key;
    if (v !== "b" && now !== v) moved++;
    if (v === "b") assert.notEqual(now, "b");
  }
  assert.equal(moved, 0);
});

test("least-sessions: order() names first what pick() takes (a=1, b=0, c=0 after one pick)", () => {
  const ls = new LeastSessions<S>();
  const all = [mk("a", 1, 1), mk("b"), mk("c")];
  ls.pick(all);
  const preview = ls.order(all).map((s) => s.key);
  assert.deepEqual(preview, ["c", "b", "a"]);
  assert.equal(ls.pick(all)?.key, preview[0]);
});

test("least-sessions: order() is the sequence a failing-over session would try, for any state", () => {
  for (let turns = 0; turns < 12; turns++) {
    const ls = new LeastSessions<S>();
    const all = [mk("a", 2, 1), mk("b", 1, 0), mk("c", 1, 0), mk("d", 3, 2)];
    for (let i = 0; i < turns; i++) ls.pick(all);
    const preview = ls.order(all).map((s) => s.key);
    // Simulate the attempt loop: pick, fail (released: counts unchanged), pick among the rest.
    const left = [...all];
    const tried: string[] = [];
    while (left.length > 0) {
      const s = ls.pick(left)!;
      tried.push(s.key);
      left.splice(left.indexOf(s), 1);
    }
    assert.deepEqual(preview, tried, `after ${turns} picks`);
  }
});
