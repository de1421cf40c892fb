import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import type { FakeFreeSwitch } from "../helpers/freeswitch-esl.ts";
import { eslTestKit, FAST_BACKOFF } from "../helpers/freeswitch-esl.ts";
import { healthRig, poolConfig, waitFor } from "../helpers/sip-pool.ts";

const kit = eslTestKit();

/** n stand-in FreeSWITCHes, a sip pool of them (SIP ports 5061.. are never contacted), all subscribed. */
async function rigOf(n: number, heartbeatTimeoutMs = 10_000) {
  const fss: FakeFreeSwitch[] = [];
  for (let i = 0; i < n; i++) fss.push(await kit.fake());
  const subscribed = fss.map((fs) => once(fs, "subscribed"));
  const rig = healthRig([poolConfig(fss.map((fs, i) => ({ port: 5061 + i, esl: { port: fs.port } })))], {
    heartbeatTimeoutMs,
    backoff: FAST_BACKOFF,
  });
  await Promise.all(subscribed);
  const servers = fss.map((_, i) => rig.registry.get(`127.0.0.1:${5061 + i}`)!);
  /** Heartbeats with these figures; resolves once every server holds its new report. */
  const beat = async (
    figs: ({ sessionCount: number; maxSessions: number; idleCpu: number } | undefined)[],
  ) => {
    const before = servers.map((s) => s.load?.at ?? -1);
    const seq = servers.map((s) => s.load);
    fss.forEach((fs, i) => {
      const f = figs[i];
      if (f) fs.heartbeat(f);
    });
    await waitFor(
      () =>
        servers.every(
          (s, i) => figs[i] === undefined || (s.load !== seq[i] && (s.load?.at ?? -1) >= before[i]!),
        ),
      "heartbeats read",
    );
  };
  return { fss, rig, servers, beat };
}

const count = (keys: readonly (string | undefined)[]) => {
  const m: Record<string, number> = {};
  for (const k of keys) m[String(k)] = (m[String(k)] ?? 0) + 1;
  return m;
};

test("esl: heartbeats steer new calls to the least loaded server (OpenSIPS score)", async () => {
  const { rig, beat } = await rigOf(3);
  await beat([
    { sessionCount: 80, maxSessions: 100, idleCpu: 50 }, // score 10
    { sessionCount: 10, maxSessions: 100, idleCpu: 90 }, // score 81
    { sessionCount: 50, maxSessions: 100, idleCpu: 90 }, // score 45
  ]);
  assert.deepEqual(rig.take(1), ["127.0.0.1:5062"]);
  await beat([
    { sessionCount: 5, maxSessions: 100, idleCpu: 99 },
    { sessionCount: 90, maxSessions: 100, idleCpu: 90 },
    { sessionCount: 50, maxSessions: 100, idleCpu: 90 },
  ]);
  assert.deepEqual(rig.take(1), ["127.0.0.1:5061"], "the next heartbeat changes the choice");
});

test("esl: a server whose Session-Count reaches Max-Sessions gets no call", async () => {
  const { rig, beat, servers } = await rigOf(2);
  await beat([
    { sessionCount: 100, maxSessions: 100, idleCpu: 99 },
    { sessionCount: 60, maxSessions: 100, idleCpu: 10 },
  ]);
  assert.deepEqual(count(rig.take(20)), { "127.0.0.1:5062": 20 });
  assert.equal(servers[1]!.routedSinceReport, 20);
  // 95 reported + 5 routed since reaches 100 as well: Session-Count plus calls sent since.
  await beat([
    { sessionCount: 95, maxSessions: 100, idleCpu: 99 },
    { sessionCount: 0, maxSessions: 1000, idleCpu: 1 },
  ]);
  const picks = rig.take(10);
  assert.deepEqual(count(picks), { "127.0.0.1:5061": 5, "127.0.0.1:5062": 5 });
  assert.deepEqual(
    picks.slice(0, 5),
    Array(5).fill("127.0.0.1:5061"),
    "5061 first (score 99 × 5%), then it is full",
  );
});

test("esl: calls routed between two heartbeats spread instead of herding onto the best-looking box", async () => {
  const { rig, beat, servers } = await rigOf(2);
  await beat([
    { sessionCount: 10, maxSessions: 100, idleCpu: 100 }, // score 90
    { sessionCount: 20, maxSessions: 100, idleCpu: 100 }, // score 80
  ]);
  // Short calls: each ends before the next starts, so our live count stays 0 and only the
  // calls routed since the heartbeat can spread them.
  const p = rig.pool();
  const picks: string[] = [];
  for (let i = 0; i < 40; i++) {
    const m = p.acquire("", new Set());
    assert.ok(m);
    picks.push(m.key);
    p.release(m);
  }
  const c = count(picks);
  // 10 to 5061 until both count 20, then they alternate: 25 and 15.
  assert.deepEqual(c, { "127.0.0.1:5061": 25, "127.0.0.1:5062": 15 });
  assert.deepEqual([servers[0]!.routedSinceReport, servers[1]!.routedSinceReport], [25, 15]);
  await beat([{ sessionCount: 10, maxSessions: 100, idleCpu: 100 }, undefined]);
  assert.equal(
    servers[0]!.routedSinceReport,
    0,
    "a heartbeat's Session-Count includes the calls sent before it",
  );
  assert.equal(servers[1]!.routedSinceReport, 15);
});

test("esl: a heartbeat that stops marks the server down; after a reconnect the next heartbeat brings it back", async () => {
  const { fss, rig, beat, servers } = await rigOf(2, 400);
  const states: string[] = [];
  rig.events.on("esl.state", (e) => {
    if (e.server === servers[0]!.key) states.push(e.state);
  });
  const keepB = setInterval(
    () => fss[1]!.heartbeat({ sessionCount: 50, maxSessions: 100, idleCpu: 50 }),
    100,
  );
  try {
    await beat([
      { sessionCount: 0, maxSessions: 100, idleCpu: 100 },
      { sessionCount: 50, maxSessions: 100, idleCpu: 50 },
    ]);
    assert.deepEqual(rig.take(1), ["127.0.0.1:5061"]);
    const t0 = performance.now();
    await waitFor(() => servers[0]!.eslDown !== undefined, "a silent");
    const ms = performance.now() - t0;
    assert.equal(servers[0]!.eslDown, "esl: no heartbeat for 400ms");
    assert.ok(ms >= 300 && ms < 3000, `down ${Math.round(ms)}ms after its last heartbeat`);
    assert.equal(servers[0]!.isUp(Date.now()), false);
    assert.equal(servers[1]!.eslDown, undefined, "b kept beating");
    assert.deepEqual(count(rig.take(3)), { "127.0.0.1:5062": 3 });
    const down = rig.changes.find((c) => c.server === servers[0]!.key && c.to === "down");
    assert.deepEqual(
      { layer: down?.layer, what: down?.what, reason: down?.reason },
      { layer: "esl", what: "health", reason: "esl: no heartbeat for 400ms" },
    );
    // The client reconnects at once; the socket answering is not enough after silence.
    await waitFor(
      () => states.filter((s) => s === "up").length >= 1 && fss[0]!.subscribers === 1,
      "reconnected",
    );
    assert.notEqual(servers[0]!.eslDown, undefined, "still down: reconnected, but no heartbeat yet");
    // Beating again (repeatedly: on a busy machine the watchdog may fire once more before
    // the first beat is read, and a beat can go to a connection that is closing).
    const beatA = setInterval(
      () => fss[0]!.heartbeat({ sessionCount: 0, maxSessions: 100, idleCpu: 100 }),
      50,
    );
    try {
      await waitFor(() => servers[0]!.eslDown === undefined, "a back", 10_000);
    } finally {
      clearInterval(beatA);
    }
    assert.deepEqual(rig.take(1), ["127.0.0.1:5061"]);
  } finally {
    clearInterval(keepB);
  }
});

test("esl: a wrong password takes the server down with the reason; a dropped connection too, and the reconnect brings it back", async () => {
  const { fss, rig, servers } = await rigOf(2);
  const changesOf = (i: number) =>
    rig.changes.filter((c) => c.server === servers[i]!.key && c.layer === "esl");
  fss[0]!.dropAll();
  // The reconnect takes a few ms: read the changes, not the state, to see the down between.
  await waitFor(() => changesOf(0).length >= 2, "a lost and back");
  assert.deepEqual(
    changesOf(0).map((c) => c.to),
    ["down", "up"],
  );
  assert.match(changesOf(0)[0]!.reason, /^esl: closed \(/);
  assert.equal(servers[0]!.eslDown, undefined);

  fss[1]!.password = "not-ClueCon";
  fss[1]!.dropAll();
  await waitFor(() => servers[1]!.eslDown?.startsWith("esl: auth") === true, "b auth failed");
  assert.equal(servers[1]!.eslDown, "esl: auth failed (-ERR invalid)");
  assert.deepEqual(count(rig.take(4)), { "127.0.0.1:5061": 4 });
});

test("esl: overload is not death: with every event socket down, a sip pool still places the call", async () => {
  const { fss, rig, servers } = await rigOf(2);
  for (const fs of fss) {
    fs.password = "changed";
    fs.dropAll();
  }
  await waitFor(() => servers.every((s) => s.eslDown !== undefined), "both down");
  const picks = rig.take(4);
  assert.deepEqual(count(picks), { "127.0.0.1:5061": 2, "127.0.0.1:5062": 2 }, "spread over the down ones");
});
