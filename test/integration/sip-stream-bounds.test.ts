// Every wait of a SIP stream transport is bounded, on real loopback sockets with short
// injected timeouts: a message never finished, a silent connection, a TLS handshake never
// begun, an outbound connect or handshake that hangs, a peer that stops reading, too many
// connections; and a refused connect is told at once.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { rawPeer, request, side, until } from "../helpers/sip-stream-kit.ts";

/** A TCP server that accepts and then neither reads nor writes. */
async function blackhole(t: TestContext): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    s.pause();
    s.on("error", () => {});
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const a = server.address();
  return { port: typeof a === "object" && a ? a.port : 0, sockets };
}

test("a message begun and never finished closes the connection after messageTimeoutMs", async (t) => {
  const server = await side(t, "tcp", { messageTimeoutMs: 200 });
  const peer = await rawPeer(t, server.port);
  const full = request(1, { method: "INVITE", body: "v=0\r\n" });
  // A Content-Length that promises more than comes: the body never completes.
  peer.socket.write(full.subarray(0, full.length - 2));
  const started = Date.now();
  await peer.closed;
  const ms = Date.now() - started;
  assert.ok(ms >= 150, `closed after ${ms} ms, before the timeout`);
  assert.equal(server.t.stats().timeouts, 1);
  assert.equal(server.got.length, 0);
  await until("no connection", () => server.t.connections === 0);
  t.diagnostic(`message timeout 200 ms: closed after ${ms} ms`);
});

test("messages that keep completing are not cut by the message timeout", async (t) => {
  const server = await side(t, "tcp", { messageTimeoutMs: 300 });
  const peer = await rawPeer(t, server.port);
  const m = request(1);
  // Each write ends mid-message, so one is always begun; each completes within the bound.
  peer.socket.write(m.subarray(0, 20));
  const started = Date.now();
  let n = 0;
  while (Date.now() - started < 900) {
    await new Promise<void>((r) =>
      peer.socket.write(Buffer.concat([m.subarray(20), m.subarray(0, 20)]), () => r()),
    );
    n++;
    await until(`message ${n}`, () => server.got.length === n);
  }
  assert.equal(peer.isClosed(), false);
  assert.equal(server.t.stats().timeouts, 0);
  t.diagnostic(`${n} messages over ${Date.now() - started} ms with one always begun`);
});

test("a connection silent both ways closes after idleTimeoutMs", async (t) => {
  const server = await side(t, "tcp", { idleTimeoutMs: 200 });
  const peer = await rawPeer(t, server.port);
  peer.socket.write(request(1));
  await until("the message", () => server.got.length === 1);
  const started = Date.now();
  await peer.closed;
  const ms = Date.now() - started;
  assert.ok(ms >= 150, `closed after ${ms} ms`);
  assert.equal(server.t.stats().timeouts, 1);
  t.diagnostic(`idle timeout 200 ms: closed after ${ms} ms`);
});

test("tls: a client that never starts its handshake is closed after handshakeTimeoutMs", async (t) => {
  const server = await side(t, "tls", { handshakeTimeoutMs: 200 });
  const peer = await rawPeer(t, server.port); // plain TCP: no ClientHello ever
  const started = Date.now();
  await until("the socket counted", () => server.t.connections === 1);
  await peer.closed;
  const ms = Date.now() - started;
  await until("no connection", () => server.t.connections === 0);
  assert.equal(server.t.stats().timeouts, 1);
  assert.equal(server.dropped[0]?.error.code, "tls_handshake_timeout");
  t.diagnostic(`handshake timeout 200 ms: closed after ${ms} ms`);
});

test("maxConnections: the connection over it is closed at once and counted", async (t) => {
  const server = await side(t, "tcp", { maxConnections: 2 });
  const a = await rawPeer(t, server.port);
  const b = await rawPeer(t, server.port);
  await until("two connections", () => server.t.connections === 2);
  const c = await rawPeer(t, server.port);
  await c.closed;
  assert.equal(server.t.stats().refusedOverLimit, 1);
  assert.equal(server.t.stats().accepted, 2);
  // Outbound ones count too: the transport opens none while full.
  const other = await side(t, "tcp");
  assert.equal(server.t.send(other.peer, request(1)), false);
  assert.equal(server.t.stats().sendFailures, 1);
  a.socket.write(request(2));
  b.socket.write(request(3));
  await until("both still served", () => server.got.length === 2);
});

test("a peer that stops reading: send() turns false at maxQueuedBytes and the connection closes", async (t) => {
  const hole = await blackhole(t);
  const proxy = await side(t, "tcp", { maxQueuedBytes: 64 * 1024 });
  const to = { transport: "tcp" as const, host: "127.0.0.1", port: hole.port };
  const msg = request(1, { body: "x".repeat(1000) });
  assert.equal(proxy.t.send(to, msg), true);
  await until("connected", () => proxy.t.stats().connected === 1);
  const started = Date.now();
  let sent = 0;
  // The kernel's buffers absorb megabytes first; each round yields so the socket can flush.
  for (let round = 0; round < 10_000; round++) {
    let refused = false;
    for (let i = 0; i < 64; i++) {
      if (!proxy.t.send(to, msg)) {
        refused = true;
        break;
      }
      sent++;
    }
    if (refused) break;
    await new Promise((r) => setImmediate(r));
  }
  const s = proxy.t.stats();
  assert.equal(s.sendFailures, 1);
  await until("the connection closed", () => proxy.t.connections === 0);
  t.diagnostic(
    `${sent} messages (${Math.round((sent * msg.length) / 1024)} KiB) accepted before the 64 KiB queue bound, in ${Date.now() - started} ms`,
  );
});

test("a connect to a closed port: the queued messages are dropped with a reason, fast", async (t) => {
  const gone = await side(t, "tcp");
  const port = gone.port;
  await gone.t.close();
  const proxy = await side(t, "tcp");
  const started = Date.now();
  const to = { transport: "tcp" as const, host: "127.0.0.1", port };
  assert.equal(proxy.t.send(to, request(1)), true);
  assert.equal(proxy.t.send(to, request(2)), true, "queued behind the first");
  await until("two drops", () => proxy.dropped.length === 2);
  const ms = Date.now() - started;
  assert.equal(proxy.dropped[0]?.error.code, "connect_failed");
  assert.match(proxy.dropped[0]?.error.message ?? "", /ECONNREFUSED/);
  assert.deepEqual(proxy.dropped[0]?.source, to);
  assert.equal(proxy.t.stats().sendFailures, 2);
  assert.equal(proxy.t.connections, 0);
  assert.ok(ms < 1_000, `${ms} ms`);
  t.diagnostic(`refused connect told in ${ms} ms`);
});

test("tls: a server that accepts TCP but never answers the handshake: dropped as connect_timeout", async (t) => {
  const hole = await blackhole(t);
  const proxy = await side(t, "tls", { connectTimeoutMs: 2_000, handshakeTimeoutMs: 200 });
  const started = Date.now();
  proxy.t.send({ transport: "tls", host: "127.0.0.1", port: hole.port }, request(1));
  await until("the drop", () => proxy.dropped.length === 1);
  const ms = Date.now() - started;
  assert.equal(proxy.dropped[0]?.error.code, "connect_timeout");
  assert.equal(proxy.t.stats().timeouts, 1);
  await until("no connection", () => proxy.t.connections === 0);
  t.diagnostic(`handshake bound 200 ms: dropped after ${ms} ms`);
});

test("while connecting, queued bytes are bounded by maxQueuedBytes", async (t) => {
  const hole = await blackhole(t);
  const proxy = await side(t, "tls", { maxQueuedBytes: 3000, handshakeTimeoutMs: 5_000 });
  const to = { transport: "tls" as const, host: "127.0.0.1", port: hole.port };
  const msg = request(1, { body: "x".repeat(1000) });
  assert.equal(proxy.t.send(to, msg), true);
  assert.equal(proxy.t.send(to, msg), true);
  assert.equal(proxy.t.send(to, msg), false, "a third would pass 3000 bytes");
  assert.equal(proxy.t.stats().sendFailures, 1);
});
