// How long a call may ring, through the whole proxy core on a simulated clock: a call that
// rings longer than Timer B's 32 s and is then answered stays the proxy's call (it used to be
// forgotten at 32 s, then CANCELled at Timer C and ended as a 408 while it was up), and a
// pool's ring_timeout ends a call nobody answers with a CANCEL and a 408.
import assert from "node:assert/strict";
import { test } from "node:test";
import { coreProxy } from "../../src/app/sip-core.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SimClock } from "../../src/protocols/sip/sim-clock.ts";
import { answer } from "../../src/protocols/sip/synthetic-calls.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";

const CALLER: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };

const INVITE = [
  "INVITE sip:bob@127.0.0.1:5060 SIP/2.0",
  "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-ring-1;rport",
  "Max-Forwards: 70",
  "From: <sip:alice@127.0.0.1:5080>;tag=a1",
  "To: <sip:bob@127.0.0.1:5060>",
  "Call-ID: ring-1@127.0.0.1",
  "CSeq: 1 INVITE",
  "Contact: <sip:alice@127.0.0.1:5080>",
  "Content-Length: 0",
  "",
  "",
].join("\r\n");

function rig(pool: string) {
  const clock = new SimClock();
  const out: { to: SipPeer; text: string }[] = [];
  const proxy = coreProxy(
    `routes: [ { listener: sip, pool: fs } ]\npools: { fs: { ${pool} servers: [ { address: 127.0.0.1:5070 } ] } }\n`,
    (to, bytes) => out.push({ to, text: bytes.toString("latin1") }),
    clock,
  );
  const feed = (text: string, from: SipPeer) => {
    const m = parseMessage(Buffer.from(text, "latin1"), { stream: false });
    assert.ok(m.ok, text);
    proxy.handle({ message: m.message, source: from, flow: undefined, size: text.length });
  };
  const firstLines = (port: number) =>
    out.filter((o) => o.to.port === port).map((o) => o.text.split("\r\n")[0]);
  return { clock, out, proxy, feed, firstLines };
}

test("a call answered after 40 s of ringing stays the proxy's call: no CANCEL, no 408, still in progress minutes later", () => {
  const r = rig("");
  r.feed(INVITE, CALLER);
  const inv = r.out.find((o) => o.text.startsWith("INVITE "));
  assert.ok(inv);
  r.feed(answer(inv.text, "180 Ringing"), inv.to);
  r.clock.advance(40_000);
  r.feed(answer(inv.text, "200 OK"), inv.to);
  for (let i = 0; i < 30; i++) r.clock.advance(10_000);
  assert.deepEqual(r.firstLines(5080), ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"]);
  assert.deepEqual(r.firstLines(5070), ["INVITE sip:bob@127.0.0.1:5060 SIP/2.0"]);
  assert.equal(r.proxy.calls.size, 1, "the call is still counted (until its BYE)");
});

test("ring_timeout: 5s ends a call ringing with no answer: CANCEL at 5 s after the last 1xx, then 408 to the caller", () => {
  const r = rig("ring_timeout: 5s,");
  r.feed(INVITE, CALLER);
  const inv = r.out.find((o) => o.text.startsWith("INVITE "));
  assert.ok(inv);
  r.feed(answer(inv.text, "180 Ringing"), inv.to);
  r.clock.advance(4_999);
  assert.deepEqual(r.firstLines(5070), ["INVITE sip:bob@127.0.0.1:5060 SIP/2.0"], "nothing before 5 s");
  r.clock.advance(1);
  const cancel = r.out.find((o) => o.text.startsWith("CANCEL "));
  assert.ok(cancel, "CANCEL at 5 s");
  r.feed(answer(cancel.text, "200 OK"), cancel.to);
  r.feed(answer(inv.text, "487 Request Terminated"), inv.to);
  assert.deepEqual(r.firstLines(5080), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 408 Request Timeout",
  ]);
  assert.ok(r.firstLines(5070).includes("ACK sip:bob@127.0.0.1:5060 SIP/2.0"), "the 487 ACKed hop by hop");
});
