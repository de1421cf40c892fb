import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { coreProxy } from "../../src/app/sip-core.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SimClock } from "../../src/protocols/sip/sim-clock.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";

/** The socket-less proxy with one server, fed as the transport feeds it, and a heap after GC. */
function harness() {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const clock = new SimClock();
  const sent: { to: SipPeer; text: string }[] = [];
  const proxy = coreProxy(
    "routes: [ { listener: sip, pool: fs } ]\npools: { fs: { servers: [ { address: 127.0.0.1:5070 } ] } }\n",
    (to, bytes) => sent.push({ to, text: bytes.toString("latin1", 0, 400) }),
    clock,
  );
  const feed = (text: string, from: SipPeer) => {
    const buf = Buffer.from(text, "latin1");
    const m = parseMessage(buf, { stream: false });
    assert.ok(m.ok, m.ok ? "" : m.error.message);
    if (m.ok) proxy.handle({ message: m.message, source: from, flow: undefined, size: buf.length });
  };
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  /** Call i set up (INVITE with `body`, the server's 200): the Record-Route lines it carried. */
  const setUp = (i: number, body: string, branch = `z9hG4bK-m${i}`): string[] => {
    sent.length = 0;
    feed(
      `INVITE sip:bob${i}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:bob${i}@127.0.0.1:5060>\r\nCall-ID: mem-${i}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      caller,
    );
    const inv = sent.find((s) => s.text.startsWith("INVITE "));
    assert.ok(inv, "the INVITE went on");
    // The server's 200 (headers only; the proxy answers the caller with it).
    const vias = inv.text.split("\r\n").filter((l) => l.startsWith("Via:"));
    const rr = inv.text.split("\r\n").filter((l) => l.startsWith("Record-Route:"));
    feed(
      `SIP/2.0 200 OK\r\n${vias.join("\r\n")}\r\n${rr.join("\r\n")}\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:bob${i}@127.0.0.1:5060>;tag=b${i}\r\nCall-ID: mem-${i}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n`,
      server,
    );
    return rr;
  };
  return { proxy, clock, sent, feed, heap, setUp };
}

const caller: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };
const server: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5070 };
const CALLS = 200;
const body = "a=x\r\n".repeat(10_000); // 50 KB of SDP-like lines

test("a call in progress keeps copies of its Call-ID, From, To and URI, not its INVITE's whole text", () => {
  const { proxy, clock, heap, setUp } = harness();
  const before = heap();
  for (let i = 0; i < CALLS; i++) setUp(i, body);
  // The transactions end (Timer L's linger); the calls stay in progress.
  clock.advance(60_000);
  assert.equal(proxy.calls.size, CALLS);
  assert.equal(proxy.transactions, 0);
  const grown = heap() - before;
  // 200 INVITEs of 50 KB are 10 MB; 200 calls' records a few hundred KB.
  assert.ok(grown < 3_000_000, `heap grew ${grown} bytes with ${CALLS} calls in progress`);
  proxy.close();
});

test("a call that ended is remembered by a copy of its Call-ID, not by the datagram that ended it", () => {
  const { proxy, clock, sent, feed, heap, setUp } = harness();
  const before = heap();
  for (let i = 0; i < CALLS; i++) {
    const rr = setUp(i, "");
    const route = rr.map((l) => l.replace(/^Record-Route:/, "Route:")).join("\r\n");
    sent.length = 0;
    feed(
      `BYE sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-e${i}\r\n${route}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:bob${i}@127.0.0.1:5060>;tag=b${i}\r\nCall-ID: mem-${i}@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`,
      caller,
    );
    const bye = sent.find((s) => s.text.startsWith("BYE "));
    assert.ok(bye, "the BYE went on");
    const vias = bye.text.split("\r\n").filter((l) => l.startsWith("Via:"));
    // The server's 200 to the BYE carries 50 KB (a body, as any peer may send).
    feed(
      `SIP/2.0 200 OK\r\n${vias.join("\r\n")}\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:bob${i}@127.0.0.1:5060>;tag=b${i}\r\nCall-ID: mem-${i}@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      server,
    );
  }
  clock.advance(60_000);
  assert.equal(proxy.calls.size, 0, "every call ended on its BYE's 200");
  assert.equal(proxy.transactions, 0);
  const grown = heap() - before;
  // 200 answers of 50 KB are 10 MB; the Call-IDs of 200 ended calls a few KB.
  assert.ok(grown < 3_000_000, `heap grew ${grown} bytes after ${CALLS} calls ended`);
  proxy.close();
});

for (const [client, branch] of [
  ["RFC 3261", (i: number) => `z9hG4bK-m${i}`],
  // No magic cookie: the transaction's key is made of Call-ID, From and CSeq (RFC 2543).
  ["RFC 2543", (i: number) => `old-${i}`],
] as const)
  test(`an INVITE transaction that accepted a 2xx lets its INVITE go while it lingers (${client} client)`, () => {
    const { proxy, clock, heap, setUp } = harness();
    const before = heap();
    for (let i = 0; i < CALLS; i++) setUp(i, body, branch(i));
    // Within the linger after the 2xx (ACCEPTED_LINGER_MS): the transactions are still there.
    clock.advance(100);
    assert.equal(proxy.transactions, CALLS);
    const grown = heap() - before;
    // 200 INVITEs of 50 KB are 10 MB (twice over: the caller's and the one forwarded).
    assert.ok(grown < 3_000_000, `heap grew ${grown} bytes with ${CALLS} accepted transactions lingering`);
    proxy.close();
  });
