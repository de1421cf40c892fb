// Bytes a SIP stream cannot frame, on real loopback sockets: an answerable request gets a
// 400 (513 when too large) before the connection closes; anything else just closes; every
// case is counted and told to onDropped, and the messages before it are still delivered.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rawPeer, request, side, until } from "../helpers/sip-stream-kit.ts";

const HEAD =
  "Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK-bad\r\nFrom: <sip:a@10.0.0.9>;tag=a1\r\n" +
  "To: <sip:fs@127.0.0.1>\r\nCall-ID: bad-1\r\n";

async function sendBad(t: import("node:test").TestContext, bytes: Buffer | string, limits = {}) {
  const server = await side(t, "tcp", { limits });
  const peer = await rawPeer(t, server.port);
  peer.socket.write(bytes);
  await peer.closed;
  return { server, reply: peer.text() };
}

test("a request whose CSeq names another method: 400 with a Warning, after the good one before it", async (t) => {
  const bad = `OPTIONS sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n`;
  const { server, reply } = await sendBad(t, Buffer.concat([request(1), Buffer.from(bad)]));
  assert.equal(server.got.length, 1, "the message before it is delivered");
  assert.match(reply, /^SIP\/2\.0 400 Bad Request\r\n/);
  assert.match(reply, /\r\nVia: SIP\/2\.0\/TCP 10\.0\.0\.9:5060;branch=z9hG4bK-bad\r\n/);
  assert.match(reply, /\r\nTo: <sip:fs@127\.0\.0\.1>;tag=[0-9a-f]+\r\n/);
  assert.match(reply, /\r\nCall-ID: bad-1\r\nCSeq: 2 INVITE\r\n/);
  assert.match(reply, /\r\nWarning: 399 trunkline "bad_cseq: [^"]+"\r\n/);
  const s = server.t.stats();
  assert.equal(s.malformed, 1);
  assert.equal(s.messagesIn, 1);
  assert.equal(server.dropped[0]?.error.code, "bad_cseq");
  assert.equal(server.dropped[0]?.source.host, "127.0.0.1");
  await until("the connection to be gone", () => server.t.connections === 0);
});

test("a request with no Content-Length: 400 missing_content_length, then closed", async (t) => {
  const { server, reply } = await sendBad(
    t,
    `INVITE sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 INVITE\r\n\r\n`,
  );
  assert.match(reply, /^SIP\/2\.0 400 Bad Request\r\n/);
  assert.match(reply, /Warning: 399 trunkline "missing_content_length: /);
  assert.equal(server.t.stats().malformed, 1);
});

test("a request split over many writes whose head later fails is still answered", async (t) => {
  const server = await side(t, "tcp");
  const peer = await rawPeer(t, server.port);
  const bad = Buffer.from(
    `INVITE sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 INVITE\r\nContent-Length: x\r\n\r\n`,
  );
  // One byte a write, each after the last one was read: the failing head spans many chunks.
  for (let i = 0; i < bad.length; i++) {
    await new Promise<void>((r) => peer.socket.write(bad.subarray(i, i + 1), () => r()));
  }
  await peer.closed;
  assert.match(peer.text(), /^SIP\/2\.0 400 Bad Request\r\n/);
  assert.match(peer.text(), /bad_content_length/);
});

test("bytes that are not a request get no answer, only a close", async (t) => {
  const { server, reply } = await sendBad(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(reply, "");
  assert.equal(server.dropped[0]?.error.code, "bad_version");
  assert.equal(server.t.stats().malformed, 1);
});

test("an ACK that cannot be read is never answered (RFC 3261 §17.1.1.3)", async (t) => {
  const { reply } = await sendBad(t, `ACK sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 ACK\r\n\r\n`);
  assert.equal(reply, "");
});

test("a header section longer than the limit: 513, counted, closed", async (t) => {
  const flood = `INVITE sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 INVITE\r\n${"X-Pad: 0123456789abcdef\r\n".repeat(400)}`;
  const { server, reply } = await sendBad(t, flood, { maxMessageBytes: 4096 });
  assert.match(reply, /^SIP\/2\.0 513 Message Too Large\r\n/);
  assert.match(reply, /header_section_too_large/);
  assert.equal(server.t.stats().malformed, 1);
});

test("a Content-Length past the size limit: 513 before the body is read", async (t) => {
  const big = `INVITE sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 INVITE\r\nContent-Length: 100000\r\n\r\n`;
  const { server, reply } = await sendBad(t, big);
  assert.match(reply, /^SIP\/2\.0 513 /);
  assert.equal(server.dropped[0]?.error.code, "body_too_large");
});

test("more header lines than maxHeaders: 400 too_many_headers", async (t) => {
  const flood = `OPTIONS sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 OPTIONS\r\n${"X-A: 1\r\n".repeat(300)}Content-Length: 0\r\n\r\n`;
  const { server, reply } = await sendBad(t, flood);
  assert.match(reply, /^SIP\/2\.0 400 /);
  assert.equal(server.dropped[0]?.error.code, "too_many_headers");
});

test("a peer that ignores the 400 and never closes is cut off after the linger", async (t) => {
  const server = await side(t, "tcp");
  const peer = await rawPeer(t, server.port);
  peer.socket.pause(); // reads nothing, so never sees the FIN either
  const started = Date.now();
  peer.socket.write(`INVITE sip:fs@127.0.0.1 SIP/2.0\r\n${HEAD}CSeq: 1 INVITE\r\n\r\n`);
  await until(
    "the server side to close",
    () => server.t.stats().malformed === 1 && server.t.connections === 0,
  );
  t.diagnostic(`closed ${Date.now() - started} ms after the bad bytes`);
});
