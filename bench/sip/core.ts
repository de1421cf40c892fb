// The SIP proxy core alone, no sockets: whole calls (INVITE, 100, 180, 200, ACK, BYE, 200)
// through SipProxy.handle() with parsing as the transport does it, the peers' side reduced to
// string edits. CPU per call of Trunkline's own code, steady and repeatable where the socket
// benchmark (bench.ts) swings by ±15% from run to run on this VM.
// Run: node --import tsx bench/sip/core.ts [calls]
import { parseConfigText } from "../../src/app/config.ts";
import { buildGeneration } from "../../src/app/runtime.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { realClock } from "../../src/protocols/sip/clock.ts";
import { rrKey, type SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SipProxy } from "../../src/protocols/sip/proxy.ts";
import type { SipRoutes } from "../../src/protocols/sip/routes.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";

const CALLS = Number(process.argv[2] ?? 20_000);
const snap = parseConfigText(
  `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { balance: ${process.env.BAL ?? "round-robin"}, servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }
`,
  "core.yaml",
);
const gen = buildGeneration(snap, new ServerRegistry(() => {}));
const listener = snap.listeners[0];
if (!listener) throw new Error("no listener");
const options = listener.options as SipListenerOptions;
const us = { host: "127.0.0.1", port: 5060 };
const out: { to: SipPeer; text: string }[] = [];
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
        out.push({ to, text: bytes.toString("latin1") });
        return true;
      },
    },
    clock: realClock,
    events: new EventBus<TrunklineEvents>(),
    pools: () => gen.pools,
    routes: () => gen.routes("sip") as SipRoutes | undefined,
  },
  () => {},
);
const CALLER: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };

function feed(text: string, from: SipPeer): void {
  const buf = Buffer.from(text, "latin1");
  const m = parseMessage(buf, { stream: false });
  if (!m.ok) throw new Error(m.error.message);
  proxy.handle({ message: m.message, source: from, flow: undefined, size: buf.length });
}

function take(pred: (t: string) => boolean): { to: SipPeer; text: string } {
  const i = out.findIndex((o) => pred(o.text));
  const o = out[i];
  if (o === undefined) throw new Error(`not sent: ${out.map((x) => x.text.split("\r\n")[0]).join(" | ")}`);
  out.splice(i, 1);
  return o;
}

/** A response a UAS builds from a request: status line, its Vias, From, To (+tag), Call-ID, CSeq, RR. */
function answer(req: string, status: string): string {
  const lines = req.split("\r\n");
  const keep = lines.filter((l) => /^(via|from|call-id|cseq|record-route):/i.test(l));
  const to = lines.find((l) => /^to:/i.test(l)) ?? "To: <sip:x@y>";
  return [
    `SIP/2.0 ${status}`,
    ...keep,
    to.includes("tag=") ? to : `${to};tag=uas1`,
    "Contact: <sip:uas@127.0.0.1:5070>",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

function caller(method: string, n: number, extra: string[], cseq: number): string {
  return [
    // In the dialog, the Request-URI is the answerer's Contact (the remote target).
    `${method} ${method === "INVITE" ? "sip:bob@127.0.0.1:5060" : "sip:uas@127.0.0.1:5070"} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-${n}-${method}-${cseq};rport`,
    "Max-Forwards: 70",
    `From: "Alice" <sip:alice@127.0.0.1:5080>;tag=a${n}`,
    `To: <sip:bob@127.0.0.1:5060>${method === "INVITE" ? "" : ";tag=uas1"}`,
    `Call-ID: ${n}-core@127.0.0.1`,
    `CSeq: ${cseq} ${method}`,
    "Contact: <sip:alice@127.0.0.1:5080>",
    "User-Agent: core-bench",
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

function call(n: number): void {
  feed(caller("INVITE", n, [], 1), CALLER);
  take((t) => t.startsWith("SIP/2.0 100"));
  const inv = take((t) => t.startsWith("INVITE "));
  feed(answer(inv.text, "180 Ringing"), inv.to);
  take((t) => t.startsWith("SIP/2.0 180"));
  feed(answer(inv.text, "200 OK"), inv.to);
  const ok = take((t) => t.startsWith("SIP/2.0 200"));
  const rr = ok.text
    .split("\r\n")
    .filter((l) => /^record-route:/i.test(l))
    .map((l) => `Route:${l.slice(13)}`);
  feed(caller("ACK", n, rr, 1), CALLER);
  take((t) => t.startsWith("ACK "));
  feed(caller("BYE", n, rr, 2), CALLER);
  const bye = take((t) => t.startsWith("BYE "));
  feed(answer(bye.text, "200 OK"), bye.to);
  take((t) => t.startsWith("SIP/2.0 200"));
}

for (let i = 0; i < 2_000; i++) call(i); // warm-up
const t0 = process.cpuUsage();
for (let i = 0; i < CALLS; i++) call(10_000 + i);
const c = process.cpuUsage(t0);
process.stdout.write(
  `${CALLS} calls: ${((c.user + c.system) / CALLS).toFixed(1)} us of CPU per call (peers' string edits included), ${proxy.calls.size} calls left\n`,
);
proxy.close();
