// Attacks on a running Trunkline SIP listener that try to make it send traffic to an address
// that never spoke to it: forged Via parameters (RFC 3581 received/rport), a stream request
// whose answer is steered off its connection. Hand-written peers on loopback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy } from "../helpers/proxy.ts";
import {
  methodOf,
  serverReply,
  sipRequest,
  sleep,
  statusOf,
  tcpVictim,
  udpPeer,
  within,
} from "../helpers/sip-attack.ts";
import { sipConfig, sipListener } from "../helpers/sip-proxy.ts";
import { rawPeer } from "../helpers/sip-stream-kit.ts";

// A defect found by attacking the proxy, fixed: a forged `received=` on a Via with `rport` is kept (forward.ts stampTopVia only adds received when sent-by's host differs), so every answer goes to the victim.
test("UDP: a Via with rport and a forged received= gets its answers at its source, none at the named victim (RFC 3581 §4)", {
  timeout: 20_000,
}, async (t) => {
  // A server that answers every INVITE 486 at once: the proxy's final goes up with Timer G.
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "486 Busy Here"), d.from.port);
    },
  });
  const attacker = await udpPeer(t);
  // The victim: another loopback address, on the attacker's port number (rport will be filled with it).
  const victim = await udpPeer(t, { host: "127.0.0.2", port: attacker.port });
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const invite = sipRequest({
    method: "INVITE",
    uri: "sip:bob@example.com",
    via: `SIP/2.0/UDP 127.0.0.1:${attacker.port};branch=z9hG4bKrefl1;rport;received=127.0.0.2`,
    callId: "reflect-1",
  });
  attacker.send(invite, p.port("sip"));
  // 100 Trying, the 486, and Timer G's first retransmissions (0.5 s, 1.5 s) have had time to go.
  await within(5_000, () => server.got.some((d) => methodOf(d.text) === "ACK"));
  await sleep(2_000);
  t.diagnostic(
    `attacker sent ${Buffer.byteLength(invite)} bytes; victim got ${victim.got.length} datagrams, ` +
      `${victim.bytesIn()} bytes: ${JSON.stringify(victim.starts())}; attacker got ${JSON.stringify(attacker.starts())}`,
  );
  assert.deepEqual(victim.starts(), [], "the victim, which never sent anything, got answers");
  assert.ok(
    attacker.got.some((d) => statusOf(d.text) === 486),
    "the caller (the request's real source) gets the final answer",
  );
});

// A defect found by attacking the proxy, fixed: a forged `received=` (sent-by = the source address, no rport) is kept, so an OPTIONS to the proxy reflects its 200 to the named host.
test("UDP: OPTIONS to the proxy with a forged received= is answered at its source, not at the named host", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const attacker = await udpPeer(t);
  const victim = await udpPeer(t, { host: "127.0.0.2", port: attacker.port });
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  for (let i = 0; i < 5; i++)
    attacker.send(
      sipRequest({
        method: "OPTIONS",
        uri: `sip:127.0.0.1:${port}`,
        via: `SIP/2.0/UDP 127.0.0.1:${attacker.port};branch=z9hG4bKrefl2-${i};received=127.0.0.2`,
        callId: `reflect-2-${i}`,
      }),
      port,
    );
  await within(3_000, () => attacker.got.length + victim.got.length >= 5);
  await sleep(300);
  t.diagnostic(`victim got ${victim.got.length}, attacker got ${attacker.got.length}`);
  assert.equal(victim.got.length, 0, "200s reflected to a host that never asked");
  assert.equal(attacker.got.length, 5);
});

// A defect found by attacking the proxy, fixed: over TCP a client-written `rport=N` is trusted, so the answer leaves the request's connection for a new connection to port N (RFC 3261 §18.2.2: the same connection).
test("TCP: a request whose Via carries rport=N is answered on its own connection; no connection is opened to N", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const victim = await tcpVictim(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const client = await rawPeer(t, port);
  client.socket.write(
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKrefl3;rport=${victim.port}`,
      callId: "reflect-3",
    }),
  );
  await within(3_000, () => client.text().includes("SIP/2.0 200") || victim.connections() > 0);
  await sleep(300);
  t.diagnostic(
    `client read ${JSON.stringify(client.text().split("\r\n")[0])}; victim saw ${victim.connections()} connection(s): ${JSON.stringify(victim.text().split("\r\n")[0])}`,
  );
  assert.equal(victim.connections(), 0, "the proxy connected to a port the client named");
  assert.match(client.text(), /^SIP\/2\.0 200 /, "the answer comes back on the request's connection");
});

// A defect found by attacking the proxy, fixed: with tcp beside udp, a datagram whose Via says TCP and carries a forged received= makes the proxy open a TCP connection to the host it names and write there.
test("UDP with a Via saying TCP and a forged received=: no TCP connection to the named host", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const attacker = await udpPeer(t);
  const victim = await tcpVictim(t, "127.0.0.2");
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  attacker.send(
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/TCP 127.0.0.1:${victim.port};branch=z9hG4bKrefl4;received=127.0.0.2`,
      callId: "reflect-4",
    }),
    port,
  );
  await within(3_000, () => victim.connections() > 0 || attacker.got.length > 0);
  await sleep(500);
  t.diagnostic(
    `victim saw ${victim.connections()} connection(s): ${JSON.stringify(victim.text().slice(0, 60))}`,
  );
  assert.equal(victim.connections(), 0, "a datagram made the proxy connect to a third host");
});

// A defect found by attacking the proxy, fixed: a transport name the proxy does not speak (SCTP, WS) slipped past the Via check, and the answer went over TCP to the port the Via named.
test("UDP with a Via saying SCTP or WS: dropped as via_transport, no TCP connection to the port it names", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const attacker = await udpPeer(t);
  const victim = await tcpVictim(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [tcp, udp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  for (const tr of ["SCTP", "WS"])
    attacker.send(
      sipRequest({
        method: "OPTIONS",
        uri: `sip:127.0.0.1:${port}`,
        via: `SIP/2.0/${tr} 127.0.0.1:${victim.port};branch=z9hG4bKrefl-${tr}`,
        callId: `reflect-${tr}`,
      }),
      port,
    );
  const l = sipListener(p);
  await within(5_000, () => (l.proxy?.stats.dropped.get("via_transport") ?? 0) === 2);
  t.diagnostic(
    `dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}; victim saw ${victim.connections()}`,
  );
  assert.equal(l.proxy?.stats.dropped.get("via_transport"), 2);
  assert.equal(victim.connections(), 0);
  assert.equal(attacker.got.length, 0);
});
