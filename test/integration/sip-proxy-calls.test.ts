// SIPp caller → Trunkline's SIP listener → two SIPp answerers over UDP: calls complete on
// both servers, ACK and BYE come back through the proxy (Record-Route with the token) and
// reach the server that answered; one log line per call.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, callThrough, sipConfig, sipListener, startAnswerers } from "../helpers/sip-proxy.ts";

const CALLS = 40;

test("SIPp calls through Trunkline to two answerers: all complete, both servers get calls, BYE ends each", {
  timeout: 60_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const p = await startProxy(sipConfig(uas.map((a) => a.port)));
  t.after(() => p.close());
  const started = Date.now();
  const uac = await callThrough(p, {
    calls: CALLS,
    rate: 40,
    timeoutMs: 30_000,
  });
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  assert.equal(uac.failed, 0, detail);
  // Each call's BYE was answered through us: the calls table is empty again.
  await until(() => callLines(p).length === CALLS, 10_000, "a log line per call");
  const l = sipListener(p);
  assert.equal(l.sessions, 0);
  const lines = callLines(p);
  const byServer = new Map<string, number>();
  for (const r of lines) {
    assert.equal(r.final_code, 200);
    assert.equal(r.end, "bye");
    byServer.set(String(r.server), (byServer.get(String(r.server)) ?? 0) + 1);
  }
  assert.deepEqual([...byServer.keys()].sort(), uas.map((a) => `127.0.0.1:${a.port}`).sort());
  for (const n of byServer.values()) assert.equal(n, CALLS / 2, JSON.stringify([...byServer]));
  assert.equal(l.udpStats?.sendErrors, 0);
  // Neither answerer saw a message it did not expect (a BYE of the other's call would be one).
  for (const a of uas) assert.equal((await a.run.kill()).errors, "");
  t.diagnostic(`${CALLS} calls in ${Date.now() - started} ms; by server ${JSON.stringify([...byServer])}`);
});
