// The HTTP benchmark's bar (bench/http/pairs.ts): each Trunkline target against the HAProxy
// target that does the same work, round by round as well as by the medians.
import assert from "node:assert/strict";
import { test } from "node:test";
import { comparisons, describe, type Measured } from "../../bench/http/pairs.ts";

/** Targets as measured: requests/s by round, and stdout bytes per request. */
function run(targets: Record<string, [(number | null)[], number | null]>): Map<string, Measured> {
  return new Map(Object.entries(targets).map(([t, [rps, logBytesPerReq]]) => [t, { rps, logBytesPerReq }]));
}

test("a logging Trunkline is held against HAProxy with its log, and the one without against HAProxy without", () => {
  const c = comparisons(
    run({
      haproxy: [[100, 120, 80], 0],
      "haproxy-log": [[90, 100, 70], 119],
      trunkline: [[57, 60, 50], 411],
      "trunkline-nolog": [[62, 70, 50], 0],
      nginx: [[100, 100, 100], 0],
    }),
  );
  assert.deepEqual(
    c.map((x) => [x.trunkline, x.haproxy, x.kind]),
    [
      ["trunkline", "haproxy-log", "like for like, both log"],
      ["trunkline-nolog", "haproxy", "like for like, neither logs"],
      ["trunkline", "haproxy", "Trunkline logs, HAProxy does not"],
    ],
  );
  const [withLog, without, old] = c;
  // Medians: trunkline 57 / haproxy-log 90; rounds 57/90, 60/100, 50/70.
  assert.equal(withLog?.ratio, 0.633);
  assert.deepEqual(withLog?.sameRound, { median: 0.633, min: 0.6, max: 0.714 });
  assert.equal(withLog?.pass, true);
  // Medians 62 / 100 pass; the rounds read 0.62, 0.583, 0.625.
  assert.equal(without?.ratio, 0.62);
  assert.deepEqual(without?.sameRound, { median: 0.62, min: 0.583, max: 0.625 });
  assert.equal(old?.ratio, 0.57);
  assert.equal(old?.pass, false);
  assert.equal(
    describe(old as NonNullable<typeof old>),
    "trunkline / haproxy (Trunkline logs, HAProxy does not): 0.570× → FAIL (same round 0.570×, rounds 0.50–0.63)",
  );
});

test("a pair with a side not run is left out, and a round that failed does not pair", () => {
  const c = comparisons(
    run({
      haproxy: [[100, null, 100], 0],
      "trunkline-node24": [[70, 60, null], 411],
    }),
  );
  assert.equal(c.length, 1, "no haproxy-log: only the old pair");
  assert.equal(c[0]?.kind, "Trunkline logs, HAProxy does not");
  assert.deepEqual(c[0]?.sameRound, { median: 0.7, min: 0.7, max: 0.7 });
  assert.deepEqual(comparisons(run({ trunkline: [[1], 411] })), []);
});

test("whether a target logs is what its stdout showed: Trunkline run at log level warn pairs with HAProxy without its log", () => {
  const c = comparisons(
    run({
      trunkline: [[60], 0.2],
      haproxy: [[100], 0],
      "haproxy-log": [[90], 119],
    }),
  );
  assert.deepEqual(
    c.map((x) => [x.trunkline, x.haproxy, x.kind]),
    [["trunkline", "haproxy", "like for like, neither logs"]],
    "a Trunkline that wrote no line is not held against an HAProxy that did, nor called a logging one",
  );
});
