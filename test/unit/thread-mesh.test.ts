// The direct channels between listener threads (app/workers/mesh.ts) on real MessagePorts:
// hand-offs that the other thread has not taken yet are bounded, so a flood of datagrams
// owned by one thread cannot pile up in its queue without end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageChannel } from "node:worker_threads";
import { MAX_IN_FLIGHT, ThreadMesh } from "../../src/app/workers/mesh.ts";

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, `${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pair(): { a: ThreadMesh; b: ThreadMesh; close: () => void } {
  const a = new ThreadMesh(0, 2);
  const b = new ThreadMesh(1, 2);
  const { port1, port2 } = new MessageChannel();
  a.connect(1, port1);
  b.connect(0, port2);
  return {
    a,
    b,
    close: () => {
      a.close();
      b.close();
    },
  };
}

test("hand-offs not yet taken stop at MAX_IN_FLIGHT ('full'), and flow again once taken", async (t) => {
  const { a, b, close } = pair();
  t.after(close);
  let got = 0;
  b.on("x", () => got++);
  const results: Record<string, number> = {};
  // One burst in one turn: nothing can be taken before it ends.
  for (let i = 0; i < MAX_IN_FLIGHT + 500; i++) {
    const r = a.send(1, "x", { i });
    results[r] = (results[r] ?? 0) + 1;
  }
  assert.deepEqual(results, { sent: MAX_IN_FLIGHT, full: 500 });
  assert.equal(a.inFlight(1), MAX_IN_FLIGHT);
  await waitFor(
    () => got === MAX_IN_FLIGHT && a.inFlight(1) === 0,
    10_000,
    "every hand-off taken and acknowledged",
  );
  assert.equal(a.send(1, "x", { i: -1 }), "sent");
  await waitFor(() => got === MAX_IN_FLIGHT + 1, 5_000, "the next one taken");
});

test("a peer that is gone is 'gone'; its successor starts with nothing in flight", async (t) => {
  const { a, close } = pair();
  t.after(close);
  for (let i = 0; i < MAX_IN_FLIGHT; i++) a.send(1, "x", i);
  assert.equal(a.send(1, "x", 0), "full");
  a.disconnect(1);
  assert.equal(a.send(1, "x", 0), "gone");
  const b2 = new ThreadMesh(1, 2);
  t.after(() => b2.close());
  const { port1, port2 } = new MessageChannel();
  a.connect(1, port1);
  b2.connect(0, port2);
  let got = 0;
  b2.on("x", () => got++);
  assert.equal(a.inFlight(1), 0);
  assert.equal(a.send(1, "x", 1), "sent");
  await waitFor(() => got === 1, 5_000, "the successor took it");
});

test("the hand-offs of one turn go to a peer as one message, in order; the next turn's as another", async (t) => {
  const a = new ThreadMesh(0, 2);
  const { port1, port2 } = new MessageChannel();
  a.connect(1, port1);
  t.after(() => {
    a.close();
    port2.close();
  });
  const got: unknown[] = [];
  port2.on("message", (m) => got.push(m));
  for (let i = 0; i < 10; i++) assert.equal(a.send(1, "x", i), "sent");
  await waitFor(() => got.length >= 1, 5_000, "the first turn's hand-offs");
  a.send(1, "x", "lone");
  // The next turn's hand-off arrives after all of the first turn's (one port, in order).
  await waitFor(() => got.some((m) => !Array.isArray(m)), 5_000, "the second turn's hand-off");
  assert.equal(got.length, 2, "one message for the turn, not one per hand-off");
  assert.deepEqual(
    got[0],
    Array.from({ length: 10 }, (_, i) => ({ c: "x", p: i })),
  );
  assert.deepEqual(got[1], { c: "x", p: "lone" });
  assert.equal(a.inFlight(1), 11, "none acknowledged: a bare port took them");
});

test("a batch reaches the other mesh's handler one hand-off at a time, and is acknowledged whole", async (t) => {
  const { a, b, close } = pair();
  t.after(close);
  const seen: number[] = [];
  b.on("x", (p) => seen.push(p as number));
  for (let i = 0; i < 100; i++) a.send(1, "x", i);
  await waitFor(() => seen.length === 100 && a.inFlight(1) === 0, 5_000, "all taken and acknowledged");
  assert.deepEqual(
    seen,
    Array.from({ length: 100 }, (_, i) => i),
  );
});

test("a peer replaced or dropped in the turn of a send gets nothing of it; close() lets this turn's go", async (t) => {
  const a = new ThreadMesh(0, 3);
  const old = new MessageChannel();
  a.connect(1, old.port1);
  const oldGot: unknown[] = [];
  old.port2.on("message", (m) => oldGot.push(m));
  const other = new MessageChannel();
  a.connect(2, other.port1);
  const otherGot: unknown[] = [];
  other.port2.on("message", (m) => otherGot.push(m));
  t.after(() => {
    a.close();
    for (const p of [old.port2, other.port2]) p.close();
  });
  a.send(1, "x", "to the old thread");
  a.send(2, "x", "to thread 2");
  const next = new MessageChannel();
  a.connect(1, next.port1);
  t.after(() => next.port2.close());
  const nextGot: unknown[] = [];
  next.port2.on("message", (m) => nextGot.push(m));
  assert.equal(a.inFlight(1), 0, "its successor starts with nothing in flight");
  a.send(1, "x", "to the successor");
  await waitFor(() => nextGot.length === 1 && otherGot.length === 1, 5_000, "the successor's and thread 2's");
  assert.deepEqual(nextGot, [{ c: "x", p: "to the successor" }]);
  assert.deepEqual(oldGot, []);
  a.send(2, "x", "sent, then closed in the same turn");
  a.close();
  await waitFor(() => otherGot.length === 2, 5_000, "the hand-off of close()'s turn");
  assert.deepEqual(otherGot[1], { c: "x", p: "sent, then closed in the same turn" });
});
