// The worker threads' transport rows for /metrics: the latest report of each worker, and the
// counts of a worker that died kept in the totals (a restarted one counts from zero again).
import assert from "node:assert/strict";
import { test } from "node:test";
import { WorkerTransports } from "../../src/app/workers/transport-rows.ts";

const row = (received: number, connections?: number) => ({
  listener: "sip",
  transport: "udp",
  connections,
  counts: { received, sent: received },
});

const total = (w: WorkerTransports, event: string) =>
  w.rows().reduce((n, r) => n + (r.counts[event] ?? 0), 0);

test("the latest report of each worker counts, once", () => {
  const w = new WorkerTransports();
  w.report(1, [row(5)]);
  w.report(1, [row(7)]);
  w.report(2, [row(3)]);
  assert.equal(total(w, "received"), 10);
});

test("a worker that died keeps its counts; its restart counts from zero on top of them", () => {
  const w = new WorkerTransports();
  w.report(1, [row(7, 2)]);
  w.report(2, [row(3)]);
  w.retire(1);
  assert.equal(total(w, "received"), 10);
  assert.equal(total(w, "sent"), 10);
  // Its connections closed with it.
  assert.ok(w.rows().every((r) => r.connections === undefined));
  w.report(1, [row(1)]);
  assert.equal(total(w, "received"), 11);
  w.retire(1);
  w.retire(1);
  assert.equal(total(w, "received"), 11);
});
