// Parser and stream abuse against a running Trunkline SIP listener (not the transport alone):
// malformed datagrams of many shapes, duplicated singleton headers, a TLS listener fed
// plaintext, a TCP message that never ends, a TCP client that never reads its answers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { methodOf, sipRequest, sleep, statusOf, udpPeer, within } from "../helpers/sip-attack.ts";
import { sipConfig, sipListener } from "../helpers/sip-proxy.ts";
import { rawPeer } from "../helpers/sip-stream-kit.ts";

const TLS = new URL("../fixtures/tls/", import.meta.url);
const tlsFiles = Object.fromEntries(
  ["server.pem", "server.key"].map((n) => [n, readFileSync(new URL(n, TLS))]),
);

function options(port: number, via: string, callId: string, extra: string[] = []): string {
  return sipRequest({ method: "OPTIONS", uri: `sip:127.0.0.1:${port}`, via, callId, extra });
}

test("UDP: malformed datagrams of every shape are dropped and counted, never answered; odd but valid ones are answered (covers README's bad-input rule on the running proxy)", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const via = (i: number) => `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKparse-${i};rport`;
  const good = (i: number, extra: string[] = []) => options(port, via(i), `bad-${i}`, extra);
  const bad: string[] = [
    good(0).replace("Call-ID: bad-0", "Call-ID: bad\u00000"),
    good(
      1,
      Array.from({ length: 300 }, (_, k) => `X-H${k}: v`),
    ),
    good(2, [`X-Big: ${"a".repeat(9000)}`]),
    good(3).replace("Content-Length: 0", "Content-Length: 99"),
    good(4).replace("Content-Length: 0", "Content-Length: -1"),
    good(5).replace("Content-Length: 0", "Content-Length: abc"),
    good(6).replace("Content-Length: 0", "Content-Length: 0\r\nContent-Length: 5"),
    good(7).replace("CSeq: 1 OPTIONS", "CSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS"),
    good(8).replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
    good(9).replace("CSeq: 1 OPTIONS", "CSeq: 99999999999 OPTIONS"),
    good(10).replace(`Via: ${via(10)}\r\n`, ""),
    good(11).replace(" SIP/2.0\r\n", " SIP/3.0\r\n"),
    good(12).replace("OPTIONS sip:", "OPTIONS  sip:"),
    good(13).replace(" SIP/2.0\r\nVia:", " SIP/2.0\r\n folded-first-line\r\nVia:"),
    good(14).replace("Max-Forwards: 70", "Max-Forwards: 70\rX-Bare-CR: 1"),
    `SIP/2.0 999 Odd\r\nVia: ${via(15)}\r\nCall-ID: bad-15\r\n\r\n`,
    "",
    "\u00ff\u00fe\u0000\u0001",
  ];
  for (const b of bad) caller.send(b, port);
  // Odd spellings a real peer may use: compact names, bare LF, a folded value, a body cut short by Content-Length.
  const odd: string[] = [
    options(port, via(20), "odd-20")
      .replace("Via:", "v:")
      .replace("Call-ID:", "i:")
      .replace("From:", "f:")
      .replace("To:", "t:"),
    options(port, via(21), "odd-21").replaceAll("\r\n", "\n"),
    options(port, via(22), "odd-22").replace(
      "Contact: <sip:alice@127.0.0.1>",
      "Contact:\r\n  <sip:alice@127.0.0.1>",
    ),
    `${options(port, via(23), "odd-23")}trailing junk after the body`,
  ];
  for (const o of odd) caller.send(o, port);
  const l = sipListener(p);
  const malformed = () => [...l.malformed.values()].reduce((a, b) => a + b, 0);
  // Only the empty datagram may go uncounted: the kernel may not even deliver it as a message.
  await until(() => malformed() >= bad.length - 1, 5_000, `${bad.length - 1} malformed counted`);
  await until(() => caller.got.length >= odd.length, 5_000, "the odd ones answered");
  await sleep(300);
  t.diagnostic(`malformed by code ${JSON.stringify([...l.malformed])}`);
  // Responses copy the request's spelling: `i:` for a compact Call-ID, LF for bare LF.
  const answered = caller.got.map((d) => /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)/im.exec(d.text)?.[1] ?? "?");
  assert.deepEqual(
    answered.filter((c) => c.startsWith("bad")),
    [],
    "a malformed datagram was answered",
  );
  assert.deepEqual(answered.sort(), ["odd-20", "odd-21", "odd-22", "odd-23"]);
  for (const d of caller.got) assert.equal(statusOf(d.text), 200);
  assert.deepEqual(server.starts(), []);
});

// A defect found by attacking the proxy, fixed: message.ts refuses a second CSeq but takes two different Call-IDs (and From, To); proxy.ts keys the call, the token and retransmission matching on the first and forwards both to the server.
test("UDP: an INVITE with two different Call-ID headers is refused (400 or dropped), not forwarded", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "    invite_timeout: 500ms\n"));
  t.after(() => p.close());
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKdupcid;rport`,
      callId: "first-call-id",
      extra: ["Call-ID: second-call-id"],
    }),
    p.port("sip"),
  );
  await within(1_500, () => server.got.length > 0 || caller.got.some((d) => statusOf(d.text) >= 400));
  t.diagnostic(
    `caller got ${JSON.stringify(caller.starts())}; server got ${JSON.stringify(server.starts())}`,
  );
  assert.equal(
    server.got.filter((d) => methodOf(d.text) === "INVITE").length,
    0,
    "forwarded with two Call-IDs",
  );
});

test("TLS listener fed plaintext SIP: the connection is closed within the handshake bound and TLS callers are still served", {
  timeout: 20_000,
}, async (t) => {
  const p = await startProxy(
    `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0, transports: [tls], tls: { cert: server.pem, key: server.key } } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { servers: [ { address: 127.0.0.1:9 } ] } }
`,
    { files: tlsFiles },
  );
  t.after(() => p.close());
  const port = p.port("sip");
  const plain = await rawPeer(t, port);
  const started = Date.now();
  plain.socket.write(options(port, "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKplain", "plain-1"));
  // A second plaintext client that says nothing at all: the handshake bound (5 s) closes it.
  const silent = await rawPeer(t, port);
  await Promise.race([plain.closed, sleep(8_000)]);
  assert.ok(plain.isClosed(), "plaintext connection still open");
  assert.ok(!plain.text().startsWith("SIP/2.0"), "a plaintext answer on a TLS listener");
  await Promise.race([silent.closed, sleep(8_000)]);
  assert.ok(silent.isClosed(), "silent connection still open after 8 s");
  t.diagnostic(`silent plaintext peer closed after ${Date.now() - started} ms`);
  const tls = await rawPeer(t, port, true);
  tls.socket.write(options(port, "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls", "tls-1"));
  await until(() => tls.text().includes("\r\n\r\n"), 5_000, "the TLS caller's answer");
  assert.match(tls.text(), /^SIP\/2\.0 200 /);
});

test("TCP: a message begun and never finished (slow loris) is cut within the 10 s bound while other callers are served", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const loris = await rawPeer(t, port);
  const started = Date.now();
  const msg = options(port, "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKloris", "loris").replace(
    "Content-Length: 0",
    "Content-Length: 50",
  );
  loris.socket.write(msg);
  // One byte of body a second: progress, but the message never completes.
  const drip = setInterval(() => loris.socket.write("x"), 1_000);
  t.after(() => clearInterval(drip));
  const other = await rawPeer(t, port);
  other.socket.write(options(port, "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKother", "other"));
  await until(() => other.text().includes("\r\n\r\n"), 5_000, "the other caller's answer");
  await Promise.race([loris.closed, sleep(14_000)]);
  clearInterval(drip);
  const took = Date.now() - started;
  t.diagnostic(`slow loris closed after ${took} ms`);
  assert.ok(loris.isClosed(), "a trickling message kept its connection past 14 s");
  assert.ok(took >= 9_000, `closed after ${took} ms, before the message bound`);
});

test("TCP: a client that sends requests and never reads its answers is cut off, not buffered without bound", {
  timeout: 30_000,
}, async (t) => {
  const server = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const sock = netConnect({ host: "127.0.0.1", port });
  t.after(() => sock.destroy());
  sock.on("error", () => {});
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.pause(); // never read
  let closed = false;
  sock.once("close", () => {
    closed = true;
  });
  // Big requests so their answers (which copy Via) are big: fewer messages to fill the buffers.
  const pad = Array.from(
    { length: 6 },
    (_, k) => `Via: SIP/2.0/TCP 10.0.0.${k}:5060;branch=z9hG4bK${"p".repeat(1000)}${k}`,
  );
  const one = (i: number) =>
    options(port, `SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKnr${i}`, `noread-${i}`, pad);
  const started = Date.now();
  let sent = 0;
  while (!closed && sent < 40_000 && Date.now() - started < 20_000) {
    const ok = sock.write(one(sent++));
    if (!ok) await Promise.race([new Promise((r) => sock.once("drain", r)), sleep(200)]);
  }
  await within(3_000, () => closed);
  const st = sipListener(p).transports?.streamStats("tcp");
  t.diagnostic(
    `sent ${sent} requests (${Math.round((sent * one(0).length) / 1e6)} MB) in ${Date.now() - started} ms; closed ${closed}; stats ${JSON.stringify(st)}`,
  );
  assert.ok(closed, "the proxy kept a connection whose peer never reads");
  assert.ok((st?.sendFailures ?? 0) >= 1);
});

test("TCP: bad framing (negative, non-numeric, disagreeing Content-Length; NUL in Contact) gets 400 and a close, counted; the server hears nothing", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const via = (i: number) => `SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKframe${i}`;
  const bad = [
    options(port, via(0), "frame-0").replace("Content-Length: 0", "Content-Length: -5"),
    options(port, via(1), "frame-1").replace("Content-Length: 0", "Content-Length: 0x10"),
    options(port, via(2), "frame-2").replace("Content-Length: 0", "Content-Length: 0\r\nl: 4"),
    // (In a header a response copies, a NUL leaves nothing to answer with: close only, by design.)
    options(port, via(3), "frame-3").replace("Contact: <sip:alice@", "Contact: <sip:al\u0000ice@"),
  ];
  const peers = [];
  for (const b of bad) {
    const c = await rawPeer(t, port);
    c.socket.write(Buffer.from(b, "latin1"));
    peers.push(c);
  }
  for (const [i, c] of peers.entries()) {
    await Promise.race([c.closed, sleep(5_000)]);
    assert.ok(c.isClosed(), `connection ${i} left open`);
    assert.match(c.text(), /^SIP\/2\.0 400 /, `connection ${i}: ${JSON.stringify(c.text().slice(0, 40))}`);
  }
  const l = sipListener(p);
  assert.equal(l.transports?.streamStats("tcp")?.malformed, bad.length);
  assert.equal(
    [...l.malformed.values()].reduce((a, b) => a + b, 0),
    bad.length,
  );
  assert.deepEqual(server.starts(), []);
});
