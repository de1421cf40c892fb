// A FreeSWITCH box dies mid-load (issue #13, "Tests"): one of two SIPp answerers is killed
// while a SIPp caller runs through Trunkline. OPTIONS pings (health: sip-options) take it out
// within fall × interval; the calls sent to it meanwhile fail over on invite_timeout; the
// caller's calls keep completing, and after the ping marks it down no call tries it again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, sipListener, startAnswerers, startCaller } from "../helpers/sip-proxy.ts";

const CALLS = 150;
// invite_timeout 2 s and a ping timeout of 1 s: the dead box answers nothing (its pings are
// refused at once), while the live SIPp on a loaded CI machine can take over 500 ms to send
// its 180 (a CI run with 500 ms: 4 calls answered 503 after both servers timed out).

test("a killed server is taken out by OPTIONS and calls keep completing", { timeout: 90_000 }, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const [live, doomed] = uas;
  assert.ok(live && doomed);
  const p = await startProxy(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    balance: round-robin
    invite_timeout: 2s
    servers: [ { address: 127.0.0.1:${live.port} }, { address: 127.0.0.1:${doomed.port} } ]
    health: { checks: [ sip-options ], interval: 200ms, timeout: 1s, rise: 2, fall: 2 }
`);
  t.after(() => p.close());
  const deadKey = `127.0.0.1:${doomed.port}`;
  // Each call's end, with when it started (by our clock) and the servers it tried.
  const ended: {
    startedAt: number;
    endedAt: number;
    server: string | undefined;
    attempts: readonly { server: string; error: string }[];
  }[] = [];
  p.proxy.runtime.events.on("session.end", (e) => {
    if (e.protocol === "sip") {
      const now = Date.now();
      ended.push({ startedAt: now - e.durationMs, endedAt: now, server: e.server, attempts: e.attempts });
    }
  });
  // When the live server was marked down (health or passive: its SIPp starved on a loaded CI
  // machine misses invite_timeout), by our clock.
  const liveKey = `127.0.0.1:${live.port}`;
  const liveDownAt: number[] = [];
  p.proxy.runtime.events.on("server.state", (c) => {
    if (c.server === liveKey && (c.what === "health" || c.what === "passive") && c.to === "down")
      liveDownAt.push(Date.now());
  });
  const dead = () => p.proxy.runtime.registry.get(deadKey);
  await until(
    () => dead()?.health === "up" && dead()?.lastProbe?.ok === true,
    10_000,
    "first pings answered",
  );
  const uac = await startCaller(p, {
    calls: CALLS,
    rate: 30,
    timeoutMs: 60_000,
  });
  t.after(() => uac.kill());
  await until(() => callLines(p).length >= 30, 20_000, "30 calls done before the kill");
  // The dialogs on the doomed box when it dies (from the proxy's calls table, just before and
  // just after the kill, and at the end: one still open there then is one whose BYE was never
  // answered): a call among them cannot complete. The end's look counts those answered by the
  // box in the moment between the first two looks and the kill, a moment that grows on a
  // loaded machine (a CI run with two hogs: 7 calls failed, 0 counted on the box).
  const onDoomed = new Set<string>();
  const note = () => {
    for (const c of sipListener(p).sessionsInfo(10_000))
      if (c.server === deadKey) onDoomed.add(c.request?.split(" ")[0] ?? "");
  };
  note();
  const killedAt = Date.now();
  await doomed.run.kill();
  note();
  await until(() => dead()?.health === "down", 10_000, "the killed server marked down by OPTIONS");
  const downAt = Date.now();
  const r = await uac.done;
  note();
  const detail = `${r.errors}\n${r.output.slice(-1500)}`;
  // A call whose dialog was on the box when it died may lose its BYE; no other may fail.
  assert.ok(r.successful >= CALLS - Math.max(2, onDoomed.size), `${onDoomed.size} on the box\n${detail}`);
  // No call is left open at SIPp's end: one that rang on the box as it died fails over when
  // the box's pings are refused (server-gone.ts), where it used to ring on until Timer C
  // (181 s), past SIPp's timeout (a CI run with two hogs: 149 of 150 settled).
  const ringing = sipListener(p)
    .sessionsInfo(CALLS)
    .filter((c) => c.server === undefined).length;
  assert.equal(
    r.successful + r.failed,
    CALLS,
    `${ringing} calls at the proxy with no final answer\n${detail}`,
  );
  // SIPp's count is not the proxy's: its caller takes any 200 of the call as the BYE's (its
  // <recv response="200"> does not look at CSeq), so a retransmitted INVITE 200 completes a
  // call whose BYE was lost: to the dead box, or to an answering SIPp starved on a loaded CI
  // machine (one run: 142 ended of 149 completed, 0 on the box, the rest open on the live
  // server, whose SIPp never answered their BYE). The proxy ends a call when its BYE is
  // answered, one line each (sip-proxy-calls checks that exactly); here nearly all must end,
  // and the checks below run on those that did.
  const endable = r.successful - onDoomed.size;
  const settled = await until(() => ended.length >= endable, 10_000).then(
    () => true,
    () => false,
  );
  const open = sipListener(p)
    .sessionsInfo(20)
    .map((c) => `${c.request?.split(" ")[0]} on ${c.server}`);
  assert.ok(
    ended.length >= endable - 10,
    `${ended.length} ended, ${r.successful} completed, ${onDoomed.size} on the box; open: ${open.join("; ")}\n${detail}`,
  );
  if (!settled)
    t.diagnostic(
      `${endable - ended.length} completed calls not ended at the proxy; open: ${open.join("; ")}`,
    );
  // Calls placed on the dead box before the ping said so failed over (no provisional reply).
  const failedOver = ended.filter((e) => e.attempts.some((x) => x.server === deadKey));
  assert.ok(failedOver.length > 0, "a call failed over from the killed server");
  // After the down mark the dead box is tried only when no server can take the call at all
  // (pool.ts: "if none looks healthy, use them all"), that is after the live one was marked
  // down too. One CI run (Node 24, two hogs) had such a call, which failed "placed before
  // the down mark".
  const lastResort = (e: (typeof ended)[number]) => liveDownAt.some((at) => at <= e.startedAt);
  // A call that went to the live server first and failed over to the dead box: the proxy does
  // that only once the live one is marked down too (its SIPp starved on a loaded machine
  // misses invite_timeout, the passive layer marks it), which may be after the call began.
  // One CI run (Node 20, two hogs): a call placed 65 ms after the down mark.
  const failedOverAfterLive = (e: (typeof ended)[number]) =>
    e.attempts[0]?.server === liveKey && liveDownAt.some((at) => at <= e.endedAt);
  for (const e of failedOver)
    assert.ok(
      e.startedAt < downAt || lastResort(e) || failedOverAfterLive(e),
      `a call placed ${e.startedAt - downAt} ms after the down mark tried the killed server (tries: ${JSON.stringify(e.attempts)}; the live one marked down at ${JSON.stringify(liveDownAt.map((at) => at - downAt))} ms from the mark)`,
    );
  // Every call placed after the down mark went straight to the live server (but for the last resort above).
  const after = ended.filter((e) => e.startedAt > downAt);
  // SIPp places calls at its rate whatever the proxy's pace: on a loaded machine more of the
  // 150 are placed before "30 done" and the mark (a CI run with two hogs: 31 after it).
  assert.ok(after.length >= 20, `${after.length} calls after the down mark`);
  for (const e of after.filter((x) => !lastResort(x))) {
    assert.equal(e.server, liveKey);
    assert.deepEqual(e.attempts, []);
  }
  t.diagnostic(
    `down ${downAt - killedAt} ms after the kill (${dead()?.healthReason}); ${onDoomed.size} calls on the box; ` +
      `${r.successful}/${CALLS} completed, ` +
      `${failedOver.length} failed over before it, ${after.length} placed after it, all on the live server; ` +
      `live server marked down ${liveDownAt.length} times`,
  );
});
