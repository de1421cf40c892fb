// A worker thread of test/unit/shared-counters.test.ts: takes and gives back one slot as fast
// as it can through SharedSlotCounters, notes the count after each take, tries to keep one at the end.
import { parentPort, workerData } from "node:worker_threads";
import { SharedSlotCounters } from "../../src/servers/shared-counters.ts";

const { mem, row, slot, cap, rounds } = workerData;
const c = new SharedSlotCounters(mem, row, false);
let max = 0;
let taken = 0;
for (let i = 0; i < rounds; i++) {
  if (!c.acquire(slot, cap)) continue;
  taken++;
  max = Math.max(max, c.active(slot));
  c.release(slot);
}
const holding = c.acquire(slot, cap) ? 1 : 0;
parentPort?.postMessage({ max, taken, holding });
