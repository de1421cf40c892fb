// net/udp-endpoint.ts on real loopback sockets: datagrams in and out, the counters, sends
// that fail without throwing, and a port released on close.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { test } from "node:test";
import { UDP_BUFFER_BYTES, UdpEndpoint, type UdpRemote } from "../../src/net/udp-endpoint.ts";

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function portOf(e: UdpEndpoint): number {
  const a = e.address;
  if (a === undefined) throw new Error("endpoint not bound");
  return a.port;
}

/** An endpoint that sends every datagram back where it came from. */
async function echo(extra: { maxDatagramBytes?: number } = {}): Promise<UdpEndpoint> {
  const e: UdpEndpoint = new UdpEndpoint({
    host: "127.0.0.1",
    port: 0,
    onDatagram: (msg, from) => e.send(msg, from.port, from.address),
    ...extra,
  });
  await e.start();
  return e;
}

test("echo on loopback: the datagram comes back, with counters on both sides", async () => {
  const server = await echo();
  const got: { msg: string; from: UdpRemote }[] = [];
  const client = new UdpEndpoint({
    host: "127.0.0.1",
    port: 0,
    onDatagram: (msg, from) => got.push({ msg: msg.toString(), from }),
  });
  await client.start();
  try {
    for (let i = 0; i < 10; i++) client.send(Buffer.from(`OPTIONS ${i}`), portOf(server), "127.0.0.1");
    await until("10 echoes", () => got.length === 10);
    assert.deepEqual(got.map((g) => g.msg).sort(), [...Array(10).keys()].map((i) => `OPTIONS ${i}`).sort());
    assert.deepEqual(got[0]?.from, { address: "127.0.0.1", port: portOf(server), family: "IPv4" });
    await until("the last send callback", () => client.stats.sent === 10 && server.stats.sent === 10);
    assert.equal(server.stats.received, 10);
    assert.equal(client.stats.received, 10);
    assert.equal(server.stats.sendErrors, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

test("buffers: asks for 4 MiB and reports what the kernel gave", async () => {
  const e = await echo();
  try {
    const { recvBufferBytes, sendBufferBytes } = e.stats;
    assert.ok(recvBufferBytes > 0 && sendBufferBytes > 0);
    // Linux grants min(asked, rmem_max) and reports it doubled; never less than its default.
    assert.ok(recvBufferBytes <= 2 * UDP_BUFFER_BYTES, `recv buffer ${recvBufferBytes}`);
  } finally {
    await e.close();
  }
});

test("a datagram over the size limit is dropped and counted, the next one still arrives", async () => {
  const server = await echo({ maxDatagramBytes: 100 });
  const raw = createSocket("udp4");
  try {
    raw.send(Buffer.alloc(101, 0x41), portOf(server), "127.0.0.1");
    raw.send(Buffer.alloc(100, 0x42), portOf(server), "127.0.0.1");
    const [reply] = (await once(raw, "message", { signal: AbortSignal.timeout(5_000) })) as [Buffer];
    assert.equal(reply.length, 100);
    assert.equal(reply[0], 0x42);
    assert.equal(server.stats.oversizeDropped, 1);
    assert.equal(server.stats.received, 1);
  } finally {
    raw.close();
    await server.close();
  }
});

test("sends that cannot go never throw: closed port, bad port, bad host, after close", async () => {
  const errors: string[] = [];
  const e = new UdpEndpoint({
    host: "127.0.0.1",
    port: 0,
    onDatagram: () => {},
    onError: (_err, where) => errors.push(where),
  });
  await e.start();
  // A port nobody listens on: bind one, note it, close it.
  const gone = createSocket("udp4");
  gone.bind(0, "127.0.0.1");
  await once(gone, "listening");
  const deadPort = gone.address().port;
  await new Promise<void>((r) => gone.close(() => r()));
  e.send(Buffer.from("x"), deadPort, "127.0.0.1");
  e.send(Buffer.from("x"), 0, "127.0.0.1");
  e.send(Buffer.from("x"), 70_000, "127.0.0.1");
  e.send(Buffer.from("x"), 5060, "::1"); // an IPv6 address from a udp4 socket
  await until("every send to finish", () => e.stats.sent + e.stats.sendErrors === 4);
  // The unreachable port is a successful send on an unconnected socket; the other three fail.
  assert.equal(e.stats.sendErrors, 3);
  assert.ok(errors.every((w) => w === "send"));
  await e.close();
  e.send(Buffer.from("x"), deadPort, "127.0.0.1");
  assert.equal(e.stats.sendErrors, 4);
});

test("a handler that throws is counted, and the endpoint goes on receiving", async () => {
  let n = 0;
  const e = new UdpEndpoint({
    host: "127.0.0.1",
    port: 0,
    onDatagram: () => {
      n++;
      throw new Error("handler bug");
    },
  });
  await e.start();
  const raw = createSocket("udp4");
  try {
    raw.send("a", portOf(e), "127.0.0.1");
    raw.send("b", portOf(e), "127.0.0.1");
    await until("two datagrams", () => n === 2);
    assert.equal(e.stats.handlerErrors, 2);
  } finally {
    raw.close();
    await e.close();
  }
});

test("the port is exclusive while bound and released by close()", async () => {
  const first = await echo();
  const port = portOf(first);
  const second = new UdpEndpoint({ host: "127.0.0.1", port, onDatagram: () => {} });
  await assert.rejects(second.start(), { code: "EADDRINUSE" });
  await second.close();
  await first.close();
  await first.close(); // twice is fine
  assert.equal(first.address, undefined);
  const third = new UdpEndpoint({ host: "127.0.0.1", port, onDatagram: () => {} });
  await third.start();
  assert.equal(portOf(third), port);
  await third.close();
});

test("an IPv6 bind address gives a udp6 endpoint", async () => {
  const server = new UdpEndpoint({
    host: "::1",
    port: 0,
    onDatagram: (msg, from) => {
      assert.equal(from.family, "IPv6");
      server.send(msg, from.port, from.address);
    },
  });
  await server.start();
  const raw = createSocket("udp6");
  try {
    raw.send("ping", portOf(server), "::1");
    const [reply] = (await once(raw, "message", { signal: AbortSignal.timeout(5_000) })) as [Buffer];
    assert.equal(reply.toString(), "ping");
  } finally {
    raw.close();
    await server.close();
  }
});

test("sends of one turn of the loop leave after it, in order; close() lets the held ones go first", async () => {
  const got: string[] = [];
  const peer = createSocket("udp4");
  peer.on("message", (m) => got.push(m.toString()));
  peer.bind(0, "127.0.0.1");
  await once(peer, "listening");
  const port = peer.address().port;
  const e = new UdpEndpoint({ host: "127.0.0.1", port: 0, onDatagram: () => {} });
  await e.start();
  try {
    const other = createSocket("udp4");
    other.bind(0, "127.0.0.1");
    await once(other, "listening");
    for (let i = 0; i < 5; i++) e.send(Buffer.from(`held ${i}`), port, "127.0.0.1");
    // Sent after them in the same turn by a plain socket, it arrives first: they were held.
    other.send("plain", port, "127.0.0.1", () => other.close());
    await until("6 datagrams", () => got.length === 6);
    assert.deepEqual(
      got,
      ["plain", ...[0, 1, 2, 3, 4].map((i) => `held ${i}`)],
      "held ones in the order sent",
    );
    got.shift();
    await until("their send callbacks", () => e.stats.sent === 5);
    e.send(Buffer.from("the last one"), port, "127.0.0.1");
    await e.close();
    await until("the datagram sent just before close()", () => got.length === 6);
    assert.equal(got[5], "the last one");
  } finally {
    await e.close();
    peer.close();
  }
});
