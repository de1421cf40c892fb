// Inbound SIP streams cannot lock the transport: an accepted connection must say something
// (a message, not CRLF keep-alives) within messageTimeoutMs, one source address holds at most
// maxPerSource connections, and the last tenth of maxConnections is kept for our own
// connections to the servers. Found by attacking the running proxy: 10,000 idle connections
// from one address held every slot for 5 minutes (idleTimeoutMs), ours to the servers too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rawPeer, request, side, until } from "../helpers/sip-stream-kit.ts";

test("an accepted connection that sends nothing, or only CRLF keep-alives, is closed after messageTimeoutMs", {
  timeout: 20_000,
}, async (t) => {
  const server = await side(t, "tcp", { messageTimeoutMs: 300, idleTimeoutMs: 60_000 });
  const talker = await rawPeer(t, server.port);
  talker.socket.write(request(1));
  await until("the first message", () => server.got.length === 1);
  const mute = await rawPeer(t, server.port);
  const pinger = await rawPeer(t, server.port);
  const started = Date.now();
  pinger.socket.write("\r\n\r\n");
  await Promise.all([mute.closed, pinger.closed]);
  const ms = Date.now() - started;
  t.diagnostic(
    `silent and CRLF-only connections closed after ${ms} ms (messageTimeoutMs 300, idleTimeoutMs 60,000)`,
  );
  assert.ok(ms >= 250 && ms < 5_000, `${ms} ms`);
  assert.equal(server.t.stats().timeouts, 2);
  // The connection that spoke first is not cut: it goes on well past the bound.
  talker.socket.write(request(2));
  await until("its second message", () => server.got.length === 2);
  assert.equal(talker.isClosed(), false);
});

test("maxPerSource: one address's connection over it is closed at once; another address still gets in", {
  timeout: 20_000,
}, async (t) => {
  const server = await side(t, "tcp", { maxPerSource: 3 });
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await rawPeer(t, server.port));
  await until("three connections", () => server.t.connections === 3);
  const fourth = await rawPeer(t, server.port);
  await fourth.closed;
  assert.equal(server.t.stats().refusedPerSource, 1);
  const other = await rawPeer(t, server.port, false, "127.0.0.2");
  other.socket.write(request(1));
  await until("the other address's message", () => server.got.length === 1);
  // One closes: its source may open another.
  mine[0]?.socket.destroy();
  await until("two from 127.0.0.1", () => server.t.connections === 3);
  const again = await rawPeer(t, server.port);
  again.socket.write(request(2));
  await until("served again", () => server.got.length === 2);
  assert.equal(server.t.stats().refusedPerSource, 1);
  t.diagnostic(`stats ${JSON.stringify(server.t.stats())}`);
});

test("inbound connections stop at nine tenths of maxConnections: ours to a server still open", {
  timeout: 20_000,
}, async (t) => {
  const server = await side(t, "tcp", { maxConnections: 10, maxPerSource: 100 });
  for (let i = 0; i < 9; i++) await rawPeer(t, server.port);
  await until("nine inbound", () => server.t.connections === 9);
  const tenth = await rawPeer(t, server.port);
  await tenth.closed;
  assert.equal(server.t.stats().refusedOverLimit, 1);
  const target = await side(t, "tcp");
  assert.equal(server.t.send(target.peer, request(1)), true, "our connection to a server");
  await until("the server got it", () => target.got.length === 1);
});

test("maxPerSource counts our connections to an address too: a caller that drops its connections cannot make us dial it past the cap", {
  timeout: 20_000,
}, async (t) => {
  const server = await side(t, "tcp", { maxPerSource: 2 });
  const target = await side(t, "tcp");
  // Two of ours to 127.0.0.1 (the address every loopback peer here has).
  assert.equal(server.t.send({ ...target.peer, port: target.port }, request(1)), true);
  await until("the first", () => target.got.length === 1);
  const other = await side(t, "tcp");
  assert.equal(server.t.send({ ...other.peer, port: other.port }, request(2)), true);
  await until("the second", () => other.got.length === 1);
  const third = await side(t, "tcp");
  assert.equal(
    server.t.send({ ...third.peer, port: third.port }, request(3)),
    false,
    "a third dial to 127.0.0.1",
  );
  // An inbound one from 127.0.0.1 is over the cap as well; from 127.0.0.2 it is not.
  const inbound = await rawPeer(t, server.port);
  await inbound.closed;
  assert.equal(server.t.stats().refusedPerSource, 1);
  const elsewhere = await rawPeer(t, server.port, false, "127.0.0.2");
  elsewhere.socket.write(request(4));
  await until("served", () => server.got.length === 1);
});
