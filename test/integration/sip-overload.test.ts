// The SIP listener's own overload control on real sockets: while its thread is saturated
// (here by busy work on the same thread, as a flood would) and a caller retransmits its
// INVITE (our answer came later than its T1), new calls get 503 with Retry-After, said once
// in the log and counted, and a call already up still gets its BYE through; once the thread
// keeps up again, new calls are taken. Saturation with no retransmission (a cold start, a
// burst the socket buffer rides out) refuses nothing, nor does anything with `overload: off`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { type TestContext, test } from "node:test";
import { readUdpQueue } from "../../src/net/udp-queue.ts";
import { saturate } from "../helpers/busy-loop.ts";
import { parsePromText, value } from "../helpers/prom-text.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import {
  type Datagram,
  methodOf,
  serverReply,
  sipRequest,
  statusOf,
  type UdpPeer,
  udpPeer,
} from "../helpers/sip-attack.ts";
import { headerLines, sipListener } from "../helpers/sip-proxy.ts";

/** A server that answers INVITE and BYE with 200 (Record-Route echoed) and takes ACKs. */
async function server(t: TestContext): Promise<UdpPeer> {
  return udpPeer(t, {
    answer: (d: Datagram, p: UdpPeer) => {
      const m = methodOf(d.text);
      if (m === "INVITE" || m === "BYE") p.send(serverReply(d.text, "200 OK"), d.from.port, d.from.address);
    },
  });
}

async function rig(
  t: TestContext,
  overload: string,
): Promise<{ p: TestProxy; fs: UdpPeer; caller: UdpPeer }> {
  const fs = await server(t);
  const p = await startProxy(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0, overload: ${overload} } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    servers: [ { address: 127.0.0.1:${fs.port} } ]
`);
  t.after(() => p.close());
  const caller = await udpPeer(t);
  return { p, fs, caller };
}

let seq = 0;

/** An INVITE as the caller writes it (the same text again is its retransmission). */
function inviteText(r: { caller: UdpPeer }, callId: string): string {
  return sipRequest({
    method: "INVITE",
    uri: "sip:bob@127.0.0.1",
    via: `SIP/2.0/UDP 127.0.0.1:${r.caller.port};branch=z9hG4bK-ov-${process.pid}-${++seq};rport`,
    callId,
  });
}

/** Sends an INVITE through the proxy; resolves with its final answer's text. */
async function invite(r: { p: TestProxy; caller: UdpPeer }, callId: string, text = inviteText(r, callId)) {
  const from = r.caller.got.length;
  r.caller.send(text, r.p.port("sip"));
  const final = () => r.caller.got.slice(from).find((d) => statusOf(d.text) >= 200);
  await until(() => final() !== undefined, 10_000, `the final answer to ${callId}`);
  return (final() as Datagram).text;
}

/**
 * A call set up, then its INVITE sent again every 100 ms, as callers whose T1 ran out would,
 * until stop() (bounded: 30 s).
 */
async function retransmitting(r: { p: TestProxy; caller: UdpPeer }, callId: string) {
  const text = inviteText(r, callId);
  assert.equal(statusOf(await invite(r, callId, text)), 200);
  const until = Date.now() + 30_000;
  const every = setInterval(() => {
    if (Date.now() > until) clearInterval(every);
    else r.caller.send(text, r.p.port("sip"));
  }, 100);
  return { stop: () => clearInterval(every) };
}

/** ACK then BYE of an answered call, along its Record-Route; resolves with the BYE's answer. */
async function hangUp(r: { p: TestProxy; caller: UdpPeer }, ok: string, callId: string): Promise<number> {
  const routes = headerLines(ok, "Record-Route").map((v) => `Route: ${v}`);
  const toTag = /tag=([^;>\s]+)/.exec(headerLines(ok, "To")[0] ?? "")?.[1] ?? "";
  const send = (method: string, cseq: number) =>
    r.caller.send(
      sipRequest({
        method,
        uri: "sip:bob@127.0.0.1",
        via: `SIP/2.0/UDP 127.0.0.1:${r.caller.port};branch=z9hG4bK-ov-${process.pid}-${++seq};rport`,
        callId,
        cseq,
        toTag,
        extra: routes,
      }),
      r.p.port("sip"),
    );
  send("ACK", 1);
  const from = r.caller.got.length;
  send("BYE", 2);
  const answer = () => r.caller.got.slice(from).find((d) => headerLines(d.text, "CSeq")[0] === "2 BYE");
  await until(() => answer() !== undefined, 10_000, `the BYE's answer of ${callId}`);
  return statusOf((answer() as Datagram).text);
}

test("overload: a saturated thread refuses new calls with 503 and Retry-After, and a call in progress still ends", {
  timeout: 60_000,
}, async (t) => {
  const r = await rig(t, "{ utilization: 0.9, after: 300ms }");
  const up = await invite(r, "ov-before@127.0.0.1");
  assert.equal(statusOf(up), 200);

  const busy = saturate();
  const t0 = performance.now();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await busy.stop();
  });
  const late = await retransmitting(r, "ov-late@127.0.0.1");
  t.after(() => late.stop());
  await r.p.waitForLog((l) => l.event === "sip_overload" && l.shedding === true, 10_000);
  const startedMs = performance.now() - t0;
  // The share grows by 0.1 per reading of 100 ms while signs come: wait for all of it, so the
  // next answer is sure; then it holds while the loop stays saturated.
  await until(() => sipListener(r.p).overload?.share === 1, 10_000, "the whole share of new calls shed");
  late.stop();

  const refused = await invite(r, "ov-during@127.0.0.1");
  assert.equal(statusOf(refused), 503, refused);
  assert.deepEqual(headerLines(refused, "Retry-After"), ["5"]);
  assert.ok(
    !r.fs.got.some((d) => d.text.includes("ov-during@")),
    "the refused INVITE never reached the server",
  );
  assert.equal(
    await hangUp(r, up, "ov-before@127.0.0.1"),
    200,
    "the call in progress ended through the proxy",
  );
  assert.ok(
    r.fs.got.some((d) => methodOf(d.text) === "BYE"),
    "the BYE reached the server",
  );
  assert.equal(sipListener(r.p).proxy?.stats.dropped.get("overloaded"), 1);
  const m = parsePromText((await r.p.proxy.metrics?.text()) ?? "");
  assert.equal(value(m, "trunkline_sip_dropped_total", { listener: "sip", reason: "overloaded" }), 1);
  assert.equal(value(m, "trunkline_sip_overloaded_threads", { listener: "sip" }), 1);

  await busy.stop();
  stopped = true;
  const t1 = performance.now();
  const end = await r.p.waitForLog((l) => l.event === "sip_overload" && l.shedding === false, 10_000);
  const endedMs = performance.now() - t1;
  assert.equal(end.listener, "sip");
  assert.equal(statusOf(await invite(r, "ov-after@127.0.0.1")), 200, "new calls taken again");
  const after = parsePromText((await r.p.proxy.metrics?.text()) ?? "");
  assert.equal(value(after, "trunkline_sip_overloaded_threads", { listener: "sip" }), 0);
  const lines = r.p.logs.filter((l) => l.event === "sip_overload");
  assert.equal(lines.length, 2, "said once at its start and once at its end");
  assert.equal(lines[0]?.level, "warn");
  t.diagnostic(
    `shedding started ${Math.round(startedMs)} ms into the saturation, ended ${Math.round(endedMs)} ms after it`,
  );
});

test("overload: a saturated thread whose UDP socket overflows (kernel drops) sheds, with no retransmission", {
  timeout: 60_000,
}, async (t) => {
  const r = await rig(t, "{ utilization: 0.9, after: 300ms }");
  const port = r.p.port("sip");
  const busy = saturate();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await busy.stop();
  });
  // Another process floods the port faster than the saturated thread reads it (bounded: 20 s).
  const flood = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:dgram").createSocket("udp4");
       const junk = Buffer.alloc(1000, 0x78);
       const end = Date.now() + 20000;
       const burst = () => { for (let i = 0; i < 200; i++) s.send(junk, ${port}, "127.0.0.1");
         if (Date.now() < end) setImmediate(burst); else s.close(); };
       burst();`,
    ],
    { stdio: "ignore" },
  );
  t.after(() => flood.kill("SIGKILL"));
  await r.p.waitForLog((l) => l.event === "sip_overload" && l.shedding === true, 20_000);
  // The share grows while the kernel keeps dropping, to all of it.
  await until(() => sipListener(r.p).overload?.share === 1, 20_000, "the whole share of new calls shed");
  flood.kill("SIGKILL");
  assert.equal(sipListener(r.p).proxy?.stats.dropped.get("invite_retransmission"), undefined);
  // The junk drained (the thread still saturated, the share held): a new call is refused.
  await until(() => (readUdpQueue(port, "IPv4")?.rxBytes ?? 1) === 0, 30_000, "the queue drained");
  assert.equal(sipListener(r.p).overload?.share, 1);
  assert.equal(statusOf(await invite(r, "flood-during@127.0.0.1")), 503);
  await busy.stop();
  stopped = true;
  await r.p.waitForLog((l) => l.event === "sip_overload" && l.shedding === false, 10_000);
  assert.equal(statusOf(await invite(r, "flood-after@127.0.0.1")), 200);
});

test("overload: a saturated thread with no INVITE retransmitted (a cold start, a burst) refuses no call", {
  timeout: 60_000,
}, async (t) => {
  const r = await rig(t, "{}");
  const busy = saturate();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await busy.stop();
  });
  // Saturated for 1.5 s: three times `after` at its default (500 ms).
  const t0 = performance.now();
  await until(() => performance.now() - t0 > 1_500, 10_000, "1.5 s of saturation");
  assert.ok((sipListener(r.p).overload?.utilization ?? 0) >= 0.95, "the loop was read as saturated");
  assert.equal(sipListener(r.p).overload?.share, 0);
  assert.equal(statusOf(await invite(r, "quiet-during@127.0.0.1")), 200);
  await busy.stop();
  stopped = true;
  assert.equal(r.p.logs.filter((l) => l.event === "sip_overload").length, 0);
});

test("overload: off: saturation and a retransmitted INVITE refuse no call", {
  timeout: 60_000,
}, async (t) => {
  const r = await rig(t, "off");
  assert.equal(sipListener(r.p).overload, undefined);
  const busy = saturate();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await busy.stop();
  });
  // Saturated for 1.5 s, with a retransmitted INVITE: what starts shedding when it is on.
  const t0 = performance.now();
  const late = await retransmitting(r, "off-late@127.0.0.1");
  t.after(() => late.stop());
  await until(() => performance.now() - t0 > 1_500, 10_000, "1.5 s of saturation");
  assert.equal(statusOf(await invite(r, "off-during@127.0.0.1")), 200);
  late.stop();
  await busy.stop();
  stopped = true;
  assert.equal(r.p.logs.filter((l) => l.event === "sip_overload").length, 0);
  assert.equal(sipListener(r.p).proxy?.stats.dropped.get("overloaded"), undefined);
});
