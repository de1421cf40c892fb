// Two SIP stream transports talking over real loopback sockets, TCP and TLS: messages both
// ways on one connection, a connection a peer opened reused to send to it, pipelined
// messages split anywhere, CRLF keep-alives, and a closed flow falling back to the address.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SipFlow } from "../../src/protocols/sip/transport.ts";
import { CA, callId, rawPeer, request, response, side, until } from "../helpers/sip-stream-kit.ts";

for (const transport of ["tcp", "tls"] as const) {
  test(`${transport}: a request, its response and a request back all travel on one connection`, async (t) => {
    // The "server" answers each request on the flow it came on.
    const server = await side(t, transport, {
      onMessage: (m, s) => {
        if (m.message.kind === "request" && m.flow)
          s.t.send(m.source, response(m.message.body.length), m.flow);
      },
    });
    const proxy = await side(t, transport);
    const started = Date.now();
    assert.equal(proxy.t.send(server.peer, request(0)), true);
    await until("the response", () => proxy.got.length === 1);
    const ms = Date.now() - started;
    const res = proxy.got[0];
    assert.equal(res?.message.kind, "response");
    assert.deepEqual(res?.source, server.peer);
    assert.equal(res?.size, response(0).length);
    const inbound = server.got[0];
    assert.equal(inbound?.message.kind, "request");
    assert.equal(inbound?.source.transport, transport);
    assert.notEqual(inbound?.source.port, proxy.port, "the source is the connection's ephemeral port");

    // The server sends a request to that source with no flow: it reuses the inbound connection.
    assert.ok(inbound);
    assert.equal(server.t.send(inbound.source, request(7, { method: "NOTIFY" })), true);
    await until("the NOTIFY", () => proxy.got.length === 2);
    assert.equal(proxy.got[1]?.flow?.id, res?.flow?.id, "the same connection carried it");
    assert.equal(server.t.connections, 1);
    assert.equal(proxy.t.connections, 1);
    assert.equal(proxy.t.stats().accepted, 0, "the proxy never accepted a connection");
    assert.equal(server.t.stats().connected, 0, "the server never opened one");
    assert.equal(proxy.t.stats().connected, 1);
    assert.equal(proxy.t.stats().messagesOut, 1);
    assert.equal(server.t.stats().messagesOut, 2);
    assert.equal(proxy.t.stats().messagesIn, 2);

    // A second request from the proxy reuses its connection too.
    proxy.t.send(server.peer, request(1));
    await until("the second response", () => proxy.got.length === 3);
    assert.equal(proxy.t.stats().connected, 1);
    t.diagnostic(`${transport}: first request answered in ${ms} ms (connect included)`);
  });

  test(`${transport}: pipelined messages split at every byte boundary arrive intact and in order`, async (t) => {
    const server = await side(t, transport);
    const peer = await rawPeer(t, server.port, transport === "tls");
    const body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";
    const three = Buffer.concat([
      request(1),
      Buffer.from("\r\n\r\n"), // an RFC 5626 keep-alive between two messages
      request(2, { method: "INVITE", body }),
      request(3, { method: "BYE" }),
    ]);
    const started = Date.now();
    for (let i = 1; i < three.length; i++) {
      peer.socket.write(three.subarray(0, i));
      peer.socket.write(three.subarray(i));
    }
    const expected = 3 * (three.length - 1);
    await until(`${expected} messages`, () => server.got.length === expected, 30_000);
    for (let k = 0; k < server.got.length; k += 3) {
      assert.deepEqual(
        server.got.slice(k, k + 3).map(callId),
        ["call-1", "call-2", "call-3"],
        `split ${k / 3 + 1}`,
      );
      assert.equal(server.got[k + 1]?.message.body.toString(), body);
    }
    const s = server.t.stats();
    assert.equal(s.messagesIn, expected);
    assert.equal(s.malformed, 0);
    assert.equal(server.t.connections, 1);
    t.diagnostic(
      `${transport}: ${expected} messages over ${three.length - 1} splits in ${Date.now() - started} ms`,
    );
  });
}

test("tcp: CRLF keep-alives alone are not messages and do not end the connection", async (t) => {
  const server = await side(t, "tcp");
  const peer = await rawPeer(t, server.port);
  for (let i = 0; i < 50; i++) peer.socket.write("\r\n\r\n");
  peer.socket.write(request(1));
  for (let i = 0; i < 50; i++) peer.socket.write("\r\n");
  peer.socket.write(request(2));
  await until("two messages", () => server.got.length === 2);
  assert.deepEqual(server.got.map(callId), ["call-1", "call-2"]);
  assert.equal(server.t.stats().malformed, 0);
  assert.equal(peer.isClosed(), false);
  assert.equal(server.t.connections, 1);
});

test("tcp: a flow that has closed falls back to the peer's address, on a new connection", async (t) => {
  const server = await side(t, "tcp");
  const other = await side(t, "tcp");
  const peer = await rawPeer(t, server.port);
  peer.socket.write(request(1));
  await until("the request", () => server.got.length === 1);
  const flow = server.got[0]?.flow as SipFlow;
  assert.equal(flow.open, true);
  peer.socket.destroy();
  await until("the flow to close", () => !flow.open);
  assert.equal(flow.send(response(1)), false, "a closed flow refuses bytes");
  assert.equal(server.t.send(other.peer, response(1), flow), true);
  await until("the response at the fallback address", () => other.got.length === 1);
  assert.equal(other.got[0]?.message.kind, "response");
  assert.equal(server.t.stats().connected, 1);
});

test("tls: an outbound connection to a name the certificate does not hold is dropped as tls_failed", async (t) => {
  const server = await side(t, "tls");
  const proxy = await side(t, "tls", {
    clientTls: { ca: CA, verify: true, servername: "not-the-server.example" },
  });
  assert.equal(proxy.t.send(server.peer, request(1)), true, "queued while connecting");
  assert.equal(proxy.t.send(server.peer, request(2)), true);
  await until("two drops", () => proxy.dropped.length === 2);
  assert.equal(proxy.dropped[0]?.error.code, "tls_failed");
  assert.match(proxy.dropped[0]?.error.message ?? "", /ALTNAME|HOSTNAME|altnames/i);
  assert.deepEqual(proxy.dropped[0]?.source, server.peer);
  assert.equal(proxy.t.stats().sendFailures, 2);
  assert.equal(server.got.length, 0);
  await until("no connection left", () => proxy.t.connections === 0);
});

test("tcp: an onMessage that throws is counted and the connection goes on", async (t) => {
  let calls = 0;
  const server = await side(t, "tcp", {
    onMessage: () => {
      calls++;
      if (calls === 1) throw new Error("handler bug");
    },
  });
  const peer = await rawPeer(t, server.port);
  peer.socket.write(Buffer.concat([request(1), request(2)]));
  await until("both messages", () => calls === 2);
  assert.equal(server.t.stats().handlerErrors, 1);
  assert.equal(server.t.connections, 1);
  assert.equal(peer.isClosed(), false);
});
