import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SimClock } from "../../bench/sip/sim-clock.ts";
import { parseConfigText } from "../../src/app/config.ts";
import { buildGeneration } from "../../src/app/runtime.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { rrKey, type SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SipProxy } from "../../src/protocols/sip/proxy.ts";
import type { SipRoutes } from "../../src/protocols/sip/routes.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";

test("a call in progress keeps copies of its Call-ID, From, To and URI, not its INVITE's whole text", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const snap = parseConfigText(
    `listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { servers: [ { address: 127.0.0.1:5070 } ] } }
`,
    "mem.yaml",
  );
  const gen = buildGeneration(snap, new ServerRegistry(() => {}));
  const options = snap.listeners[0]?.options as SipListenerOptions;
  const us = { host: "127.0.0.1", port: 5060 };
  const clock = new SimClock();
  const sent: { to: SipPeer; text: string }[] = [];
  const proxy = new SipProxy(
    {
      listener: "sip",
      options,
      us: { ...us, transport: "udp" },
      serverTransport: "udp",
      keys: [rrKey("sip", options, us)],
      sealKeys: [rrKey("sip", options, us)],
      sender: {
        send(to, bytes) {
          sent.push({ to, text: bytes.toString("latin1", 0, 400) });
          return true;
        },
      },
      clock,
      events: new EventBus<TrunklineEvents>(),
      pools: () => gen.pools,
      routes: () => gen.routes("sip") as SipRoutes | undefined,
    },
    () => {},
  );
  const caller: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };
  const server: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5070 };
  const feed = (text: string, from: SipPeer) => {
    const buf = Buffer.from(text, "latin1");
    const m = parseMessage(buf, { stream: false });
    assert.ok(m.ok, m.ok ? "" : m.error.message);
    if (m.ok) proxy.handle({ message: m.message, source: from, flow: undefined, size: buf.length });
  };
  const body = "a=x\r\n".repeat(10_000); // 50 KB of SDP-like lines
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  const CALLS = 200;
  for (let i = 0; i < CALLS; i++) {
    sent.length = 0;
    feed(
      `INVITE sip:bob${i}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-m${i}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:bob${i}@127.0.0.1:5060>\r\nCall-ID: mem-${i}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
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
  }
  // The transactions end (Timer L's linger); the calls stay in progress.
  clock.advance(60_000);
  assert.equal(proxy.calls.size, CALLS);
  assert.equal(proxy.transactions, 0);
  const grown = heap() - before;
  // 200 INVITEs of 50 KB are 10 MB; 200 calls' records a few hundred KB.
  assert.ok(grown < 3_000_000, `heap grew ${grown} bytes with ${CALLS} calls in progress`);
  proxy.close();
});
