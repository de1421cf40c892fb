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
