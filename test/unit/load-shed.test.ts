// The load-shedding control (net/load-shed.ts): when it starts, how the refused share moves,
// and what admit() answers, with the loop's readings and the dice given by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CALM, LoadShed, nextShed, type ShedState, STEP_DOWN, STEP_UP } from "../../src/net/load-shed.ts";
import { saturate } from "../helpers/busy-loop.ts";

assert.equal(STEP_UP, 0.1);
assert.equal(STEP_DOWN, 0.05);

const O = { utilization: 0.9, after: 3 };

/** The states after each reading; a sign comes with the first reading unless `signs` says otherwise. */
function run(
  readings: readonly number[],
  from: ShedState = CALM,
  signs: readonly number[] = [1],
): ShedState[] {
  const out: ShedState[] = [];
  let s = from;
  readings.forEach((u, i) => {
    s = nextShed(s, u, signs[i] ?? 0, O);
    out.push(s);
  });
  return out;
}

const every = (n: number) => Array(n).fill(1);

test("nextShed: nothing is shed before `after` hot readings in a row, then 0.1 more per hot one with signs", () => {
  const s = run([0.95, 0.99, 1, 1, 0.9], CALM, every(5));
  assert.deepEqual(
    s.map((x) => x.share),
    [0, 0, 0.1, 0.2, 0.3],
  );
});

test("nextShed: a burst shorter than `after` sheds nothing, and a cool reading restarts the count", () => {
  const s = run([1, 1, 0.5, 1, 1, 0.2, 1, 1], CALM, every(8));
  assert.ok(s.every((x) => x.share === 0));
});

test("nextShed: a loop saturated for long with no sign of a backlog sheds nothing; the first sign starts it", () => {
  const quiet = run(Array(50).fill(1), CALM, []);
  assert.ok(
    quiet.every((x) => x.share === 0),
    "saturated, no sign: a start, a burst the buffer rides out",
  );
  const signed = run([1, 1], quiet.at(-1), [0, 1]);
  assert.deepEqual(
    signed.map((x) => x.share),
    [0, 0.1],
  );
  // A sign before a cool reading is forgotten with it.
  const s = run([1, 0.5, 1, 1, 1], CALM, [1]);
  assert.ok(s.every((x) => x.share === 0));
});

test("nextShed: while shedding, the share rises while signs keep coming and holds once they stop", () => {
  // One sign at the 1st reading: up at the 3rd (2 readings after it, fewer than `after`), then
  // held at 0.1 however long the loop stays saturated with no new sign.
  const s = run(every(20), CALM, [1]);
  assert.deepEqual(
    s.slice(0, 5).map((x) => x.share),
    [0, 0, 0.1, 0.1, 0.1],
  );
  assert.equal(s.at(-1)?.share, 0.1);
  // A sign again: up for `after` readings from it.
  const again = run([1, 1, 1, 1], s.at(-1), [1]);
  assert.deepEqual(
    again.map((x) => x.share),
    [0.2, 0.3, 0.4, 0.4],
  );
});

test("nextShed: a cool reading lowers the share by 0.05, a hot one with a recent sign raises it by 0.1", () => {
  const s = run([1, 1, 1, 1, 0.5, 0.95, 0.1, 0.1], CALM, every(8));
  assert.deepEqual(
    s.map((x) => x.share),
    [0, 0, 0.1, 0.2, 0.15, 0.25, 0.2, 0.15],
  );
});

test("nextShed: the share stays within 0 and 1, and comes back to exactly 0", () => {
  const hot = run(Array(30).fill(1), CALM, every(30));
  assert.equal(hot.at(-1)?.share, 1);
  const cool = run(Array(25).fill(0), hot.at(-1), []);
  assert.equal(cool[19]?.share, 0);
  assert.equal(cool.at(-1)?.share, 0);
});

test("LoadShed: backlog is asked only on hot readings, told which is the first of a run", () => {
  const asked: boolean[] = [];
  const shed = new LoadShed(O, {
    auto: false,
    backlog: (first) => {
      asked.push(first);
      return !first;
    },
  });
  for (const u of [1, 1, 0.2, 0.5, 1, 1, 1]) shed.sample(u);
  assert.deepEqual(asked, [true, false, true, false, false]);
  // Signs at the 2nd, 6th and 7th readings: the run from the 5th has 3 hot readings and signs.
  assert.equal(shed.status().share, 0.1);
  shed.close();
});

test("LoadShed: admit() refuses the share of new work the dice say, counts it, and says start and end once", () => {
  const dice = [0.05, 0.5, 0.15, 0.99];
  let i = 0;
  const changes: [boolean, number][] = [];
  const shed = new LoadShed(O, {
    auto: false,
    random: () => dice[i++ % dice.length] as number,
    onChange: (on, u) => changes.push([on, u]),
  });
  admitAll(shed, 10);
  for (const u of [1, 1, 1, 0.97]) shed.sample(u);
  assert.equal(shed.status().share, 0, "saturated, but no sign of a backlog");
  shed.sign();
  for (const u of [1, 1]) shed.sample(u); // share 0.2
  assert.equal(shed.status().share, 0.2);
  assert.deepEqual([shed.admit(), shed.admit(), shed.admit(), shed.admit()], [false, true, false, true]);
  assert.equal(shed.status().refused, 2);
  for (let k = 0; k < 4; k++) shed.sample(0.3); // 0.2 → 0
  assert.equal(shed.status().share, 0);
  assert.deepEqual(changes, [
    [true, 1],
    [false, 0.3],
  ]);
  // Closed while shedding: it says its end, once.
  shed.sign();
  for (const u of [1, 1, 1]) shed.sample(u);
  assert.ok(shed.status().share > 0);
  shed.close();
  shed.close();
  assert.deepEqual(changes.slice(2), [
    [true, 1],
    [false, 1],
  ]);
  assert.equal(shed.status().share, 0);
});

test("LoadShed: with auto sampling it reads this thread's real loop, and a busy loop starts shedding", async () => {
  const changes: boolean[] = [];
  const shed = new LoadShed({ utilization: 0.8, after: 2 }, { onChange: (on) => changes.push(on) });
  const busy = saturate(() => shed.sign());
  try {
    // Bounded: 5 s of saturation at most.
    const t0 = performance.now();
    while (!changes.includes(true) && performance.now() - t0 < 5_000)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(changes, [true], "shedding started under a busy loop");
    assert.ok(shed.status().utilization >= 0.8, `utilization ${shed.status().utilization}`);
  } finally {
    await busy.stop();
    shed.close();
  }
});

function admitAll(shed: LoadShed, n: number): void {
  for (let k = 0; k < n; k++) assert.equal(shed.admit(), true, "nothing refused while calm");
}
