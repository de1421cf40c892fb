// A SIP listener's own transports in /metrics: datagrams in and out, stream connections open,
// accepted and refused per source. Before, these counters lived only in the process (a
// stream flood showed nowhere an operator looks).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePromText, value } from "../helpers/prom-text.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { sipRequest, statusOf, udpPeer } from "../helpers/sip-attack.ts";
import { sipConfig, sipListener } from "../helpers/sip-proxy.ts";
import { rawPeer } from "../helpers/sip-stream-kit.ts";

test("trunkline_transport_events_total and trunkline_transport_connections for udp and tcp", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port], "", ", transports: [udp, tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const options = (branch: string) =>
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK${branch}`,
      callId: branch,
    });
  caller.send(options("m1"), port);
  caller.send(options("m2"), port);
  await until(() => caller.got.filter((d) => statusOf(d.text) === 200).length === 2, 5_000, "two 200s");
  const a = await rawPeer(t, port);
  const b = await rawPeer(t, port);
  a.socket.write(
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKm3",
      callId: "m3",
    }),
  );
  await until(() => a.text().startsWith("SIP/2.0 200"), 5_000, "the TCP 200");
  const l = sipListener(p);
  await until(() => l.transports?.streamStats("tcp")?.accepted === 2, 5_000, "two accepted");
  const m = p.proxy.metrics;
  assert.ok(m, "metrics are on");
  const e = parsePromText(await m.text());
  const ev = (transport: string, event: string) =>
    value(e, "trunkline_transport_events_total", { listener: "sip", transport, event });
  t.diagnostic(
    `udp received ${ev("udp", "received")} sent ${ev("udp", "sent")}; tcp accepted ${ev("tcp", "accepted")} in ${ev("tcp", "messages_in")} out ${ev("tcp", "messages_out")}`,
  );
  assert.equal(ev("udp", "received"), 2);
  assert.equal(ev("udp", "sent"), 2);
  assert.equal(ev("tcp", "accepted"), 2);
  assert.equal(ev("tcp", "messages_in"), 1);
  assert.equal(ev("tcp", "messages_out"), 1);
  assert.equal(ev("tcp", "refused_per_source"), 0);
  assert.equal(value(e, "trunkline_transport_connections", { listener: "sip", transport: "tcp" }), 2);
  b.socket.destroy();
  await until(
    () => l.transports?.views().find((v) => v.transport === "tcp")?.connections === 1,
    5_000,
    "one left",
  );
  const after = parsePromText(await m.text());
  assert.equal(value(after, "trunkline_transport_connections", { listener: "sip", transport: "tcp" }), 1);
});

test("with workers: 2, the UDP counters in /metrics are every thread's, not the main thread's alone", {
  timeout: 30_000,
}, async (t) => {
  const server = await udpPeer(t);
  const p = await startProxy(`workers: 2\n${sipConfig([server.port])}`);
  t.after(() => p.close());
  const port = p.port("sip");
  // Many sources, so that SO_REUSEPORT's hash gives the worker some of them.
  const SOURCES = 24;
  const callers = await Promise.all(Array.from({ length: SOURCES }, () => udpPeer(t)));
  for (const [i, c] of callers.entries())
    c.send(
      sipRequest({
        method: "OPTIONS",
        uri: `sip:127.0.0.1:${port}`,
        via: `SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bKw${i}`,
        callId: `w${i}`,
      }),
      port,
    );
  await until(
    () => callers.every((c) => c.got.some((d) => statusOf(d.text) === 200)),
    10_000,
    "a 200 to every source",
  );
  const m = p.proxy.metrics;
  assert.ok(m, "metrics are on");
  const udp = async (event: string): Promise<number> =>
    value(parsePromText(await m.text()), "trunkline_transport_events_total", {
      listener: "sip",
      transport: "udp",
      event,
    }) ?? 0;
  // A worker reports its counters every second: scrape until they add up (bounded).
  let got = [0, 0];
  const end = Date.now() + 10_000;
  for (;;) {
    got = [await udp("received"), await udp("sent")];
    if (got[0] === SOURCES && got[1] === SOURCES) break;
    assert.ok(
      Date.now() < end,
      `received and sent ${JSON.stringify(got)} after 10 s, ${SOURCES} each expected`,
    );
    await new Promise((r) => setTimeout(r, 100));
  }
  const mine =
    sipListener(p)
      .transports?.views()
      .find((v) => v.transport === "udp")?.counts.received ?? 0;
  t.diagnostic(`threads ${p.proxy.threads.threads}; the main thread received ${mine} of ${SOURCES}`);
  // With one thread (a Node without SO_REUSEPORT) the main thread's are the process's.
  if (p.proxy.threads.threads > 1) assert.ok(mine < SOURCES, "the worker received none: nothing was merged");
  else assert.equal(mine, SOURCES);
});
