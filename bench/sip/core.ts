// The SIP proxy core alone, no sockets: whole calls (INVITE, 100, 180, 200, ACK, BYE, 200)
// through SipProxy.handle() with parsing as the transport does it, the peers' side reduced to
// string edits. A simulated clock moves 1/RATE s per call and each call's BYE comes HOLD_MS
// after its INVITE, so the calls in progress, the lingering transactions and their timers are
// those of a live proxy at RATE calls/s (as the socket benchmark: 2 s calls). Reports the
// proxy's own time per call (parse + handle, GC included) apart from the harness', steady and
// repeatable where the socket benchmark (bench.ts) swings by ±15% from run to run on this VM.
// Run: node --import tsx bench/sip/core.ts [calls]   (env RATE, default 2500; HOLD_MS, 2000)

import { coreProxy, handleDatagram } from "../../src/app/sip-core.ts";
import { SimClock } from "../../src/protocols/sip/sim-clock.ts";
import { type Sent, SyntheticCalls } from "../../src/protocols/sip/synthetic-calls.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";

const CALLS = Number(process.argv[2] ?? 20_000);
const RATE = Number(process.env.RATE ?? 2_500);
// At least 1: each call is hung up after the next one is set up (HOLD_MS=0 meant n % 0).
const HOLD = Math.max(1, Math.round((RATE * Number(process.env.HOLD_MS ?? 2_000)) / 1000));
const clock = new SimClock();
const out: Sent[] = [];
const proxy = coreProxy(
  `routes: [ { listener: sip, pool: fs } ]
pools: { fs: { balance: ${process.env.BAL ?? "round-robin"}, servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }
`,
  (to, bytes) => out.push({ to, text: bytes.toString("latin1") }),
  clock,
);

/** Nanoseconds spent in the proxy (parse and handle), not in the harness. */
let inProxy = 0n;
/** BY_KIND=1: the same, by start line (method, or status code and the CSeq's BYE). */
const byKind = new Map<string, bigint>();

function feed(text: string, from: SipPeer): void {
  const buf = Buffer.from(text, "latin1");
  const t = process.hrtime.bigint();
  handleDatagram(proxy, buf, from);
  const dt = process.hrtime.bigint() - t;
  inProxy += dt;
  if (process.env.BY_KIND) {
    const k = text.slice(0, text.indexOf(" ", 8)) + (text.includes("CSeq: 2 BYE") ? " (BYE)" : "");
    byKind.set(k, (byKind.get(k) ?? 0n) + dt);
  }
}

const driver = new SyntheticCalls(feed, out, HOLD);

/** Call n: its set-up, then the BYE of the call HOLD before it; the clock moves 1/RATE s. */
function step(n: number): void {
  driver.step(n);
  clock.advance(1000 / RATE);
}

const WARM = Math.max(2_000, HOLD + 2_000);
for (let i = 0; i < WARM; i++) step(i);
inProxy = 0n;
byKind.clear();
const t0 = process.cpuUsage();
for (let i = WARM; i < WARM + CALLS; i++) step(i);
const c = process.cpuUsage(t0);
const mem = process.memoryUsage();
process.stdout.write(
  `${CALLS} calls at ${RATE}/s held ${HOLD}: proxy ${(Number(inProxy) / 1000 / CALLS).toFixed(1)} us per call ` +
    `(whole process ${((c.user + c.system) / CALLS).toFixed(1)} us CPU, harness included); ` +
    `${proxy.calls.size} calls in progress, ${proxy.transactions} transactions, ${clock.pending} timers, ` +
    `heap ${Math.round(mem.heapUsed / 1e6)} MB\n`,
);
for (const [k, v] of byKind)
  process.stdout.write(`  ${k}: ${(Number(v) / 1000 / CALLS).toFixed(1)} us per call\n`);
proxy.close();
