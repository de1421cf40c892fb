// INVITE transactions are bounded in bytes as well as in count (tx-bound.ts): big INVITEs
// (40 KB bodies here) fill max_transaction_bytes long before max_calls. Answered ones are
// closed first; when ringing calls alone fill it, a new INVITE gets 503 and reaches no server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { txCost } from "../../src/protocols/sip/tx-bound.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { methodOf, serverReply, sipRequest, statusOf, type UdpPeer, udpPeer } from "../helpers/sip-attack.ts";
import { sipConfig, sipListener } from "../helpers/sip-proxy.ts";

const BODY = `v=0\r\n${"a=x-pad:".padEnd(40_000, "y")}\r\n`;

/** An INVITE of 40 KB from the caller (its Call-ID in its branch). */
function bigInvite(caller: UdpPeer, callId: string): string {
  return sipRequest({
    method: "INVITE",
    uri: "sip:bob@example.com",
    via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${callId}`,
    callId,
    extra: ["Content-Type: application/sdp"],
    body: BODY,
  });
}

/** Responses of that status the caller got. */
function answers(caller: UdpPeer, status: number): number {
  return caller.got.filter((d) => statusOf(d.text) === status).length;
}

test("max_transaction_bytes: 40 KB INVITEs, answered ones closed to make room, then 503 when ringing ones fill it", {
  timeout: 30_000,
}, async (t) => {
  // busy-* calls get 486 (answered: the transaction lingers for the ACK that never comes), ring-* get 180.
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) !== "INVITE") return;
      p.send(
        serverReply(d.text, d.text.includes("Call-ID: busy-") ? "486 Busy Here" : "180 Ringing"),
        d.from.port,
      );
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(
    sipConfig([server.port], "", ", max_transaction_bytes: 1048576").replace(
      "balance: round-robin",
      "balance: round-robin\n    invite_timeout: 60s",
    ),
  );
  t.after(() => p.close());
  const port = p.port("sip");
  const l = sipListener(p);
  const invite = (callId: string) => bigInvite(caller, callId);
  const count = (status: number) => answers(caller, status);
  for (let i = 0; i < 8; i++) {
    caller.send(invite(`busy-${i}`), port);
    await until(() => count(486) > i, 10_000, `busy answer ${i}`);
  }
  // As many as the bytes hold: 7 of 40.3 KB (133 KB counted each) in 1 MiB.
  const fit = Math.floor(1048576 / txCost(Buffer.byteLength(invite("ring-0"))));
  assert.ok(fit >= 5 && fit < 8, `${fit}`);
  for (let i = 0; i < fit; i++) caller.send(invite(`ring-${i}`), port);
  await until(() => count(180) === fit, 10_000, "all ringing");
  const heldTx = l.proxy?.transactions;
  assert.equal(l.proxy?.stats.dropped.get("transactions_full") ?? 0, 0, "room made by closing answered ones");
  caller.send(invite("ring-over"), port);
  await until(() => count(503) === 1, 10_000, "503 for one ringing INVITE more");
  t.diagnostic(
    `INVITE ${Buffer.byteLength(invite("ring-0"))} bytes; held ${heldTx} transactions; dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}`,
  );
  assert.equal(l.proxy?.stats.dropped.get("transactions_full"), 1);
  assert.equal(l.proxy?.transactions, fit, "the ringing ones");
  assert.ok(
    !server.got.some((d) => d.text.includes("Call-ID: ring-over")),
    "the refused INVITE reached a server",
  );
  assert.equal(l.sessions, fit);
});

test("a draining listener's 503 to a new INVITE leaves the answered transactions lingering for their ACK", {
  timeout: 30_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "486 Busy Here"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", ", max_transaction_bytes: 1048576"));
  t.after(() => p.close());
  const port = p.port("sip");
  const l = sipListener(p);
  const invite = (callId: string) => bigInvite(caller, callId);
  const count = (status: number) => answers(caller, status);
  // As many answered (486, no ACK sent) as the bytes hold: the next INVITE would need room.
  const fit = Math.floor(1048576 / txCost(Buffer.byteLength(invite("busy-0"))));
  for (let i = 0; i < fit; i++) {
    caller.send(invite(`busy-${i}`), port);
    await until(() => count(486) > i, 10_000, `busy answer ${i}`);
  }
  assert.equal(l.proxy?.transactions, fit);
  l.proxy?.drain();
  caller.send(invite("after-drain"), port);
  await until(() => count(503) === 1, 10_000, "503 while draining");
  assert.equal(l.proxy?.transactions, fit, "no answered transaction closed for an INVITE refused anyway");
});
