// Attacks that use the proxy's response path: a response whose top Via names the proxy is
// relayed to the Via below it. Without a check, anyone could make the proxy a reflector (to a
// UDP victim, or a TCP one it connects to) or loop a response through itself once per Via.
// Each Via the proxy adds now carries a seal (via-seal.ts): a MAC of the Via below it.
// Defects found by attacking the running proxy, fixed; these tests fail on the old code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newBranch } from "../../src/protocols/sip/branch.ts";
import { rrKey, type SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { sealFor } from "../../src/protocols/sip/via-seal.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { methodOf, serverReply, sipRequest, statusOf, tcpVictim, udpPeer } from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

function response(status: string, vias: readonly string[], callId: string, method = "OPTIONS"): string {
  return [
    `SIP/2.0 ${status}`,
    ...vias.map((v) => `Via: ${v}`),
    "From: <sip:alice@127.0.0.1>;tag=a1",
    "To: <sip:bob@example.com>;tag=b1",
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

test("a forged response (our Via on top of one the sender wrote) is dropped: no datagram to the UDP victim, no connection to the TCP one; real responses still pass", {
  timeout: 20_000,
}, async (t) => {
  const seen: string[] = [];
  // A server that answers every OPTIONS 200, and keeps what it got.
  const server = await udpPeer(t, {
    answer: (d, p) => {
      seen.push(d.text);
      if (methodOf(d.text) === "OPTIONS") p.send(serverReply(d.text, "200 OK"), d.from.port);
    },
  });
  const attacker = await udpPeer(t);
  const victim = await udpPeer(t, { host: "127.0.0.2" });
  const tcp = await tcpVictim(t, "127.0.0.2");
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const us = `SIP/2.0/UDP 127.0.0.1:${port}`;
  // 1. Made up: our sent-by on top, any branch, the victim below.
  attacker.send(
    response(
      "200 OK",
      [`${us};branch=z9hG4bKforged1`, `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKv1`],
      "seal-1",
    ),
    port,
  );
  attacker.send(
    response(
      "200 OK",
      [`${us};branch=z9hG4bKforged2`, `SIP/2.0/TCP 127.0.0.2:${tcp.port};branch=z9hG4bKv2`],
      "seal-2",
    ),
    port,
  );
  // 2. A real request's branch, replayed by the server it went to with another Via below it.
  attacker.send(
    sipRequest({
      method: "OPTIONS",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${attacker.port};branch=z9hG4bKreal1`,
      callId: "seal-3",
    }),
    port,
  );
  await until(() => attacker.got.some((d) => statusOf(d.text) === 200), 5_000, "the real OPTIONS' 200");
  const forwarded = seen.find((s) => s.includes("seal-3")) ?? "";
  const ours = headerLines(forwarded, "Via")[0] ?? "";
  assert.match(ours, new RegExp(`^${us};branch=z9hG4bK`));
  server.send(
    response("200 OK", [ours, `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKreal1`], "seal-3"),
    port,
  );
  server.send(
    response("200 OK", [ours, `SIP/2.0/TCP 127.0.0.2:${tcp.port};branch=z9hG4bKreal1`], "seal-3"),
    port,
  );
  const l = sipListener(p);
  await until(() => (l.proxy?.stats.dropped.get("unsealed_via") ?? 0) >= 4, 5_000, "4 drops");
  // A last real exchange: once its answer is back, the forged ones were handled long before.
  attacker.send(
    sipRequest({
      method: "OPTIONS",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${attacker.port};branch=z9hG4bKreal2`,
      callId: "seal-4",
    }),
    port,
  );
  await until(() => attacker.got.filter((d) => statusOf(d.text) === 200).length === 2, 5_000, "second 200");
  t.diagnostic(`dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}`);
  assert.equal(victim.got.length, 0, "the UDP victim got a datagram");
  assert.equal(tcp.connections(), 0, "the proxy connected to the TCP victim");
  assert.equal(l.proxy?.stats.dropped.get("unsealed_via"), 4);
});

test("a response with 1,280 Vias naming the proxy is dropped once, not looped through it Via after Via", {
  timeout: 30_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "OPTIONS") p.send(serverReply(d.text, "200 OK"), d.from.port);
    },
  });
  const attacker = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const via = `SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKa`;
  // 8 Via lines of 160 values: each under the 8 KiB a header value may have.
  const line = Array.from({ length: 160 }, () => via).join(",");
  const loop = response(
    "200 OK",
    Array.from({ length: 8 }, () => line),
    "seal-loop",
  );
  assert.ok(Buffer.byteLength(loop) < 65_000, `${Buffer.byteLength(loop)} bytes fit a datagram`);
  const started = performance.now();
  for (let i = 0; i < 20; i++) attacker.send(loop, port);
  const l = sipListener(p);
  await until(() => (l.proxy?.stats.dropped.get("unsealed_via") ?? 0) === 20, 10_000, "20 drops");
  attacker.send(
    sipRequest({
      method: "OPTIONS",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${attacker.port};branch=z9hG4bKafter`,
      callId: "seal-after",
    }),
    port,
  );
  await until(() => attacker.got.some((d) => statusOf(d.text) === 200), 5_000, "the real OPTIONS' 200");
  const ms = performance.now() - started;
  t.diagnostic(
    `20 looping responses of ${Buffer.byteLength(loop)} bytes handled, and a real exchange done, in ${ms.toFixed(0)} ms`,
  );
  assert.equal(attacker.got.length, 1, "only the real 200 came back");
  assert.equal(l.proxy?.stats.dropped.get("unsealed_via"), 20);
  assert.ok(ms < 5_000, `${ms} ms`);
});

test("an INVITE whose To cannot be read is dropped and counted: no empty datagram (UDP), no call", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const bad = sipRequest({
    method: "INVITE",
    uri: "sip:bob@example.com",
    via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKbadto`,
    callId: "seal-bad-to",
  }).replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com");
  caller.send(bad, port);
  // Then a well-formed OPTIONS to the proxy: its 200 comes after the INVITE was handled.
  caller.send(
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKok`,
      callId: "seal-ok",
    }),
    port,
  );
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "the OPTIONS' 200");
  const l = sipListener(p);
  t.diagnostic(
    `caller got ${JSON.stringify(caller.got.map((d) => d.bytes))} bytes; dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}`,
  );
  assert.deepEqual(
    caller.got.map((d) => statusOf(d.text)),
    [200],
    "only the OPTIONS' answer, no empty datagram",
  );
  assert.equal(server.got.length, 0, "the INVITE went on to a server");
  assert.equal(l.proxy?.stats.dropped.get("unanswerable"), 1);
  assert.equal(l.sessions, 0);
});

test("without secret, a seal made with the key anyone can derive (listener name and address) is refused", {
  timeout: 20_000,
}, async (t) => {
  const attacker = await udpPeer(t);
  const victim = await udpPeer(t, { host: "127.0.0.2" });
  const server = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const l = sipListener(p);
  const options = l.config.options as SipListenerOptions;
  // What the Record-Route token uses without a secret: computable from the config and the wire.
  const derived = rrKey("sip", options, { host: "127.0.0.1", port });
  const back = { transport: "udp", host: "127.0.0.2", port: victim.port } as const;
  const branch = newBranch(undefined, sealFor(derived, back));
  attacker.send(
    response(
      "200 OK",
      [
        `SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`,
        `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKv`,
      ],
      "seal-derived",
    ),
    port,
  );
  await until(() => (l.proxy?.stats.dropped.get("unsealed_via") ?? 0) === 1, 5_000, "the drop");
  assert.equal(victim.got.length, 0);
});
