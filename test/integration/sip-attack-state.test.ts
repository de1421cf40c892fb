// Attacks on the calls table of a running Trunkline SIP listener: responses forged by a
// caller to end its own call in the proxy's books while it goes on at the server (so
// max_sessions and least-sessions no longer see it), and late or duplicate 2xx.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import {
  type Datagram,
  methodOf,
  serverReply,
  sipRequest,
  sleep,
  statusOf,
  type UdpPeer,
  udpPeer,
  within,
} from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

/** A FreeSWITCH stand-in: 200 to every INVITE (echoing Record-Route), nothing else. */
function answering(d: Datagram, p: UdpPeer): void {
  if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "200 OK"), d.from.port);
}

// A defect found by attacking the proxy, fixed: proxy.ts #response ends a call on any final response whose CSeq says BYE and whose top Via names the proxy, from anyone: a caller forges one and its call leaves the table and frees its server's slot while it goes on (max_sessions bypassed).
test("a caller's forged '200 OK' to a BYE it never sent does not end its call nor free the server's max_sessions slot", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t, { answer: answering });
  const caller = await udpPeer(t);
  const p = await startProxy(
    sipConfig([server.port]).replace(
      `address: 127.0.0.1:${server.port} }`,
      `address: 127.0.0.1:${server.port}, max_sessions: 1 }`,
    ),
  );
  t.after(() => p.close());
  const port = p.port("sip");
  const key = `127.0.0.1:${server.port}`;
  const invite = (n: number) =>
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKslot${n};rport`,
      callId: `slot-call-${n}`,
    });
  caller.send(invite(1), port);
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "call 1 answered");
  const l = sipListener(p);
  assert.equal(l.sessions, 1);
  assert.equal(p.proxy.runtime.registry.get(key)?.active, 1);
  // The forged answer: the proxy's Via on top (any branch), the caller's own below it.
  caller.send(
    [
      "SIP/2.0 200 OK",
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKforgedbye;rport`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKx;rport`,
      "From: <sip:alice@127.0.0.1>;tag=a1",
      "To: <sip:bob@example.com>;tag=srv",
      "Call-ID: slot-call-1",
      "CSeq: 2 BYE",
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
    port,
  );
  await within(1_000, () => l.sessions === 0);
  const callsAfter = l.sessions;
  const activeAfter = p.proxy.runtime.registry.get(key)?.active;
  // A second call must find the server full (max_sessions 1): 503, and the server not asked.
  caller.send(invite(2), port);
  await within(2_000, () =>
    caller.got.some((d) => headerLines(d.text, "Call-ID")[0] === "slot-call-2" && statusOf(d.text) >= 200),
  );
  const invites = new Set(
    server.got.filter((d) => methodOf(d.text) === "INVITE").map((d) => headerLines(d.text, "Call-ID")[0]),
  );
  t.diagnostic(
    `after the forged BYE answer: calls ${callsAfter}, server active ${activeAfter}; server got INVITEs for ${JSON.stringify([...invites])}`,
  );
  assert.equal(
    server.got.filter((d) => methodOf(d.text) === "BYE").length,
    0,
    "no BYE ever went to the server",
  );
  assert.equal(callsAfter, 1, "the call left the calls table on a response nobody sent");
  assert.equal(activeAfter, 1, "the server's slot was given back");
  assert.ok(!invites.has("slot-call-2"), "a second call reached a server at max_sessions");
});

test("2xx retransmitted by the server after the INVITE transaction ended still reach the caller, one for one (covers §16.7 step 5)", {
  timeout: 20_000,
}, async (t) => {
  let ok = "";
  let to = 0;
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) !== "INVITE") return;
      ok = serverReply(d.text, "200 OK");
      to = d.from.port;
      p.send(ok, to);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKlate2xx;rport`,
      callId: "late-2xx",
    }),
    p.port("sip"),
  );
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "the 200");
  const l = sipListener(p);
  await until(() => l.proxy?.transactions === 0, 5_000, "the INVITE transaction over");
  // The caller "lost" it: the server retransmits (as Timer G for 2xx would), five times.
  for (let i = 0; i < 5; i++) server.send(ok, to);
  await until(() => caller.got.filter((d) => statusOf(d.text) === 200).length === 6, 5_000, "every 2xx");
  await sleep(200);
  assert.equal(caller.got.filter((d) => statusOf(d.text) === 200).length, 6);
  assert.equal(l.sessions, 1);
});

// A defect found by attacking the proxy, fixed: proxy.ts keeps each INVITE server transaction in #serverTx for 64·T1 (32 s) after its non-2xx final, outside max_calls and with no cap: rejected INVITEs never ACKed pile up at about 10 KB each, so memory grows with the attacker's rate whatever max_calls says.
test("rejected INVITEs that are never ACKed: INVITE transactions held stay within max_calls", {
  timeout: 20_000,
}, async (t) => {
  const MAX = 5;
  const N = 1_000;
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "486 Busy Here"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", `, max_calls: ${MAX}`));
  t.after(() => p.close());
  const l = sipListener(p);
  const heap0 = process.memoryUsage().heapUsed;
  let peak = 0;
  for (let i = 0; i < N; i++) {
    caller.send(
      sipRequest({
        method: "INVITE",
        uri: "sip:bob@example.com",
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKnoack${i};rport`,
        callId: `noack-${i}`,
      }),
      p.port("sip"),
    );
    // Paced so that each 486 comes back before max_calls fills: the calls table stays small.
    if (i % 4 === 3) {
      await sleep(4);
      peak = Math.max(peak, l.proxy?.transactions ?? 0);
    }
  }
  const count = (m: string) => server.got.filter((d) => methodOf(d.text) === m).length;
  await within(3_000, () => count("ACK") >= count("INVITE"));
  peak = Math.max(peak, l.proxy?.transactions ?? 0);
  const rejected = count("INVITE");
  t.diagnostic(
    `${N} INVITEs, ${rejected} reached the server and were rejected; calls now ${l.sessions}; INVITE transactions held: peak ${peak}, now ${l.proxy?.transactions}; heap +${Math.round((process.memoryUsage().heapUsed - heap0) / 1e6)} MB`,
  );
  assert.ok(l.sessions <= MAX);
  assert.ok(peak <= MAX, `${peak} INVITE transactions held with max_calls ${MAX}`);
});
