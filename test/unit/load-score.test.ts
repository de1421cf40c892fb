import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { LeastLoad } from "../../src/balance/least-load.ts";
import { type LoadInput, type LoadScore, loadScore, pickLeastLoaded } from "../../src/balance/load-score.ts";

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const NOW = 1_000_000;
function input(over: Partial<LoadInput> & { sessionCount?: number; maxSessions?: number; idleCpu?: number }) {
  const { sessionCount = 0, maxSessions = 1000, idleCpu = 100, ...rest } = over;
  return {
    report: { sessionCount, maxSessions, idleCpu, at: NOW - 5_000 },
    routedSince: 0,
    active: 0,
    now: NOW,
    maxAgeMs: 60_000,
    ...rest,
  } satisfies LoadInput;
}
function score(s: LoadScore): number {
  if (!s.known) assert.fail(`unknown: ${s.reason}`);
  return s.score;
}
const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≠ ${b}`);

test("OpenSIPS' formula: 100 × Idle-CPU/100 × (1 − Session-Count/Max-Sessions)", () => {
  near(score(loadScore(input({ sessionCount: 0, idleCpu: 100 }))), 100);
  near(score(loadScore(input({ sessionCount: 250, idleCpu: 80 }))), 60);
  near(score(loadScore(input({ sessionCount: 500, maxSessions: 2000, idleCpu: 97.633333 }))), 73.22499975);
  near(score(loadScore(input({ sessionCount: 10, idleCpu: 0 }))), 0);
  near(score(loadScore(input({ idleCpu: 250 }))), 100); // clamped
});

test("Max-Sessions 0 or absent: no ceiling, Idle-CPU alone", () => {
  near(score(loadScore(input({ sessionCount: 5000, maxSessions: 0, idleCpu: 42 }))), 42);
  const r = loadScore({ ...input({}), report: { sessionCount: 9, idleCpu: 30, at: NOW } });
  assert.deepEqual(r, { known: true, score: 30, sessions: 9, full: undefined });
});

test("herding: calls routed since the heartbeat lower the score, our own count is a floor", () => {
  const base = loadScore(input({ sessionCount: 100, idleCpu: 90 }));
  const after10 = loadScore(input({ sessionCount: 100, idleCpu: 90, routedSince: 10 }));
  assert.ok(score(after10) < score(base));
  near(score(after10), 90 * (1 - 110 / 1000));
  // The report lags: we hold 300 live calls there although it says 100.
  const own = loadScore(input({ sessionCount: 100, idleCpu: 90, routedSince: 10, active: 300 }));
  near(score(own), 90 * 0.7);
  assert.equal(own.known && own.sessions, 300);
});

test("a full server scores 0 and says why", () => {
  assert.deepEqual(loadScore(input({ sessionCount: 1000 })), {
    known: true,
    score: 0,
    sessions: 1000,
    full: "report",
  });
  const sent = loadScore(input({ sessionCount: 995, routedSince: 5 }));
  assert.equal(sent.known && sent.full, "report");
  const own = loadScore(input({ sessionCount: 10, active: 1000 }));
  assert.equal(own.known && own.full, "own");
  assert.equal(score(loadScore(input({ sessionCount: 1500 }))), 0);
});

test("no report, a stale report or bad figures: unknown", () => {
  assert.deepEqual(loadScore({ ...input({}), report: undefined }), { known: false, reason: "no_report" });
  assert.deepEqual(loadScore({ ...input({}), now: NOW + 56_000 }), { known: false, reason: "stale" });
  assert.equal(loadScore({ ...input({}), now: NOW + 55_000 }).known, true); // exactly maxAgeMs old
  assert.deepEqual(loadScore({ ...input({}), maxAgeMs: Number.NaN }), { known: false, reason: "stale" });
  for (const bad of [
    input({ sessionCount: -1 }),
    input({ idleCpu: Number.NaN }),
    input({ maxSessions: Number.POSITIVE_INFINITY }),
    input({ routedSince: -3 }),
    { ...input({}), report: { sessionCount: 1, maxSessions: 10, idleCpu: 50, at: Number.NaN } },
  ])
    assert.deepEqual(loadScore(bad), { known: false, reason: "bad_report" });
});

interface S {
  key: string;
  active: number;
  weight: number;
}
const mk = (key: string, active = 0, weight = 1): S => ({ key, active, weight });
const table = (scores: Record<string, LoadScore>) => (s: S) =>
  scores[s.key] ?? ({ known: false, reason: "no_report" } as const);
const known = (score: number, full?: "own" | "report"): LoadScore => ({
  known: true,
  score,
  sessions: 0,
  full: full ?? undefined,
});

test("pickLeastLoaded: highest score; ties to fewer live calls, then config order", () => {
  const a = mk("a", 5);
  const b = mk("b", 2);
  const c = mk("c", 2);
  const picked = (scores: Record<string, LoadScore>, list = [a, b, c]) => {
    const p = pickLeastLoaded(list, table(scores));
    return "server" in p ? `${p.by}:${p.server.key}` : p.by;
  };
  assert.equal(picked({ a: known(80), b: known(60), c: known(70) }), "score:a");
  assert.equal(picked({ a: known(70), b: known(70), c: known(60) }), "score:b");
  assert.equal(picked({ a: known(70), b: known(70), c: known(70) }), "score:b");
  assert.equal(picked({ a: known(70), b: known(70), c: known(70) }, [a, c, b]), "score:c");
  assert.equal(picked({ a: known(0, "report"), b: known(1), c: known(0, "own") }), "score:b");
  assert.equal(picked({ a: known(90), b: known(60) }), "unknown");
  assert.equal(picked({}, []), "none");
  const zero = mk("z", 0, 0);
  assert.equal(pickLeastLoaded([zero, b], table({ z: known(100), b: known(10) })).by, "score");
  assert.equal(pickLeastLoaded([zero], table({})).by, "none");
});

test("pickLeastLoaded does not starve: every score 0, some not full by our own count", () => {
  const a = mk("a", 7);
  const b = mk("b", 3);
  const c = mk("c", 1);
  const p = pickLeastLoaded([a, b, c], table({ a: known(0, "report"), b: known(0), c: known(0, "own") }));
  assert.deepEqual(p, { by: "not_starved", server: b });
  const none = pickLeastLoaded([a, c], table({ a: known(0, "own"), c: known(0, "own") }));
  assert.deepEqual(none, { by: "none" });
});

test("LeastLoad balancer: scores first, least-sessions when a score is unknown", () => {
  const a = mk("a", 4);
  const b = mk("b", 1);
  const c = mk("c", 2);
  const scores: Record<string, LoadScore> = { a: known(90), b: known(40), c: known(0, "own") };
  const lb = new LeastLoad<S>(table(scores));
  assert.equal(lb.pick([a, b, c])?.key, "a");
  assert.deepEqual(
    lb.order([a, b, c]).map((s) => s.key),
    ["a", "b"],
  );
  delete scores.b;
  assert.equal(lb.pick([a, b, c])?.key, "b");
  // c stays out: full by our own count, whatever the others' reports.
  assert.deepEqual(
    lb.order([a, b, c]).map((s) => s.key),
    ["b", "a"],
  );
});

const figures = fc.record({
  sessionCount: fc.integer({ min: 0, max: 5000 }),
  maxSessions: fc.integer({ min: 0, max: 5000 }),
  idleCpu: fc.double({ min: 0, max: 150, noNaN: true }),
  routedSince: fc.integer({ min: 0, max: 500 }),
  active: fc.integer({ min: 0, max: 5000 }),
});

test("property: a known score is in [0, 100] and 0 whenever full", () => {
  fc.assert(
    fc.property(figures, (f) => {
      const s = loadScore(input(f));
      return s.known && s.score >= 0 && s.score <= 100 && (s.full === undefined || s.score === 0);
    }),
    runs(500),
  );
});

test("property: the score never rises with Session-Count or calls sent, never falls with Idle-CPU", () => {
  fc.assert(
    fc.property(
      figures,
      fc.integer({ min: 0, max: 500 }),
      fc.double({ min: 0, max: 50, noNaN: true }),
      (f, more, idle) => {
        const base = score(loadScore(input(f)));
        const busier = score(loadScore(input({ ...f, sessionCount: f.sessionCount + more })));
        const sent = score(loadScore(input({ ...f, routedSince: f.routedSince + more })));
        const idler = score(loadScore(input({ ...f, idleCpu: f.idleCpu + idle })));
        return busier <= base && sent <= base && idler >= base;
      },
    ),
    runs(500),
  );
});

test("property: pickLeastLoaded never throws and picks a top-scoring candidate", () => {
  const cand = fc.record({
    active: fc.integer({ min: 0, max: 50 }),
    weight: fc.integer({ min: 0, max: 3 }),
    score: fc.option(fc.integer({ min: 0, max: 4 }).map((n) => n * 25)),
    full: fc.constantFrom(undefined, "own" as const, "report" as const),
  });
  fc.assert(
    fc.property(fc.array(cand, { maxLength: 8 }), (list) => {
      const servers = list.map((c, i) => ({ key: `s${i}`, active: c.active, weight: c.weight }));
      const scoreOf = (s: S): LoadScore => {
        const c = list[Number(s.key.slice(1))];
        if (!c || c.score === null) return { known: false, reason: "stale" };
        return known(c.full ? 0 : c.score, c.full);
      };
      const p = pickLeastLoaded(servers, scoreOf);
      const live = servers.filter((s) => s.weight > 0).map((s) => ({ s, sc: scoreOf(s) }));
      if (live.some((x) => !x.sc.known))
        return (
          p.by === "unknown" &&
          p.usable.length === live.filter((x) => !x.sc.known || x.sc.full !== "own").length
        );
      const top = Math.max(0, ...live.map((x) => (x.sc.known ? x.sc.score : 0)));
      if (p.by === "score") return top > 0 && scoreOf(p.server).known && score(scoreOf(p.server)) === top;
      if (p.by === "not_starved") return top === 0 && scoreOf(p.server).known && p.server.weight > 0;
      return live.every((x) => x.sc.known && x.sc.full === "own");
    }),
    runs(500),
  );
});
