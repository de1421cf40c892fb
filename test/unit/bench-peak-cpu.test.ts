// The SIP benchmark's peak CPU (bench/sip/peak-cpu.ts): the busiest process over any 1 s.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PeakCpu } from "../../bench/sip/peak-cpu.ts";

test("the peak is the busiest process's highest CPU over any whole second, not the step's average", () => {
  // Process 1 runs flat out for 1.5 s then idles; process 2 uses a quarter of a core throughout.
  const cpu = new Map<number, number>([
    [1, 0],
    [2, 0],
  ]);
  const peak = new PeakCpu([1, 2], (pid) => cpu.get(pid) ?? 0);
  let last = 0;
  for (let at = 0; at <= 10_000; at += 100) {
    const dt = at - last;
    last = at;
    if (at <= 1_500) cpu.set(1, (cpu.get(1) ?? 0) + dt);
    cpu.set(2, (cpu.get(2) ?? 0) + dt / 4);
    peak.sample(at);
    if (at === 900) assert.equal(peak.peak, 0, "no whole window yet");
  }
  assert.equal(peak.peak, 1);
  // The step's average for process 1: 1.5 s of CPU over 10 s.
  assert.equal((cpu.get(1) ?? 0) / 10_000, 0.15);
});

test("a process that is gone is skipped, the others still count", () => {
  let gone = false;
  const peak = new PeakCpu([1, 2], (pid) => {
    if (pid === 1 && gone) throw new Error("ENOENT");
    return pid === 2 ? 0 : 0;
  });
  let ms2 = 0;
  const p2 = new PeakCpu([2], () => ms2);
  for (let at = 0; at <= 2_000; at += 100) {
    if (at === 500) gone = true;
    ms2 += at === 0 ? 0 : 50;
    peak.sample(at);
    p2.sample(at);
  }
  assert.equal(peak.peak, 0);
  assert.equal(p2.peak, 0.5);
});
