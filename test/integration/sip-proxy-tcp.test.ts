// SIP over TCP through Trunkline: a SIPp caller on TCP, a listener with [udp, tcp], SIPp
// answerers on UDP (the listener's first transport faces the servers). The proxy changes
// transport, so it double Record-Routes (RFC 5658): the caller's ACK and BYE come back over
// TCP, the answerer's responses over UDP, and every call completes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, callThrough, sipConfig, sipListener, startAnswerers } from "../helpers/sip-proxy.ts";

const CALLS = 30;

test("a SIPp caller over TCP reaches UDP answerers: calls complete, ACK and BYE cross the proxy", {
  timeout: 60_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const p = await startProxy(
    sipConfig(
      uas.map((a) => a.port),
      "",
      ", transports: [udp, tcp]",
    ),
  );
  t.after(() => p.close());
  const uac = await callThrough(p, {
    calls: CALLS,
    rate: 30,
    timeoutMs: 30_000,
    extraArgs: ["-t", "t1"],
  });
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  await until(() => callLines(p).length === CALLS, 10_000, "a log line per call");
  for (const r of callLines(p)) {
    assert.equal(r.final_code, 200);
    assert.equal(r.end, "bye");
  }
  const l = sipListener(p);
  assert.equal(l.sessions, 0);
  const tcp = l.transports?.streamStats("tcp");
  // INVITE, ACK, BYE of every call in over TCP; 100, 180, 200 and the BYE's 200 out.
  assert.equal(tcp?.messagesIn, CALLS * 3, JSON.stringify(tcp));
  assert.ok((tcp?.messagesOut ?? 0) >= CALLS * 3, JSON.stringify(tcp));
  assert.equal(tcp?.accepted, 1);
  for (const a of uas) assert.equal((await a.run.kill()).errors, "");
});
