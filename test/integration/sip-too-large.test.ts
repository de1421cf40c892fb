// A request that fits the caller's datagram but not ours once our Via and Record-Route are on
// it (UDP toward the servers): EMSGSIZE. It used to wait out invite_timeout, fail over through
// every server and blame each one; it gets 513 Message Too Large at once and no server is
// blamed, since it would be as large for all of them. Found by attacking the running proxy.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { methodOf, serverReply, sipRequest, statusOf, udpPeer } from "../helpers/sip-attack.ts";
import { sipConfig, sipListener } from "../helpers/sip-proxy.ts";

test("an INVITE or a MESSAGE too large for a datagram once forwarded: 513 at once, no server blamed", {
  timeout: 30_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "180 Ringing"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(
    sipConfig([server.port]).replace("balance: round-robin", "balance: round-robin\n    invite_timeout: 4s"),
  );
  t.after(() => p.close());
  const port = p.port("sip");
  const big = (method: string, callId: string, size: number) => {
    const head = sipRequest({
      method,
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${callId}`,
      callId,
      extra: ["Content-Type: text/plain"],
      body: "",
    });
    return sipRequest({
      method,
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${callId}`,
      callId,
      extra: ["Content-Type: text/plain"],
      body: "x".repeat(size - Buffer.byteLength(head) - 2),
    });
  };
  const invite = big("INVITE", "big-invite", 65_400);
  assert.ok(Buffer.byteLength(invite) <= 65_507, `${Buffer.byteLength(invite)} bytes`);
  const started = performance.now();
  caller.send(invite, port);
  await until(() => caller.got.some((d) => statusOf(d.text) === 513), 10_000, "513 to the INVITE");
  const ms = performance.now() - started;
  // No Record-Route on a MESSAGE: our Via alone (107 bytes here) makes it too large.
  caller.send(big("MESSAGE", "big-message", 65_450), port);
  await until(
    () => caller.got.some((d) => statusOf(d.text) === 513 && d.text.includes("Call-ID: big-message")),
    10_000,
    "513 to the MESSAGE",
  );
  // A normal call still goes through, to the same server: it was not marked down.
  caller.send(big("INVITE", "small-invite", 2_000), port);
  await until(() => caller.got.some((d) => statusOf(d.text) === 180), 10_000, "the small call rings");
  const l = sipListener(p);
  t.diagnostic(
    `INVITE of ${Buffer.byteLength(invite)} bytes answered 513 in ${ms.toFixed(0)} ms (invite_timeout 4 s)`,
  );
  assert.ok(ms < 2_000, `${ms} ms`);
  assert.deepEqual(
    server.got.map((d) => d.text.split("\r\n").find((h) => h.startsWith("Call-ID:"))),
    ["Call-ID: small-invite"],
    "only the small INVITE reached the server",
  );
  assert.equal(l.proxy?.transactions, 2);
});
