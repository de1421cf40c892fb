// Two builds of the SIP proxy core in one process, for an A/B of a change: this checkout's
// src/ and another's (CORE_AB_REF=<the other checkout's root>, e.g. a `git worktree add` of
// main). Each gets its own proxy, simulated clock and synthetic calls (as core.ts: RATE
// calls/s, each held HOLD_MS); they take turns, a batch of BATCH calls each, ROUNDS times,
// which of the two goes first changing every round. On this VM the speed drifts by ±20% over
// minutes and two runs one after the other cannot tell a 5% change; batches alternated within
// one process meet the same drift. Prints each build's median µs per call and the median of
// the rounds' ratios (this / ref).
// Run: CORE_AB_REF=/tmp/base node --import tsx bench/sip/core-ab.ts   (env BATCH 500, ROUNDS 40)

import { resolve } from "node:path";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";

const RATE = Number(process.env.RATE ?? 2_500);
const HOLD = Math.max(1, Math.round((RATE * Number(process.env.HOLD_MS ?? 2_000)) / 1000));
const BATCH = Math.max(1, Number(process.env.BATCH ?? 500));
const ROUNDS = Math.max(2, Number(process.env.ROUNDS ?? 40));

interface Build {
  readonly name: string;
  /** Runs `calls` more calls; gives the proxy's own µs per call over them. */
  batch(calls: number): number;
  close(): void;
}

async function load(name: string, root: string): Promise<Build> {
  const core = await import(resolve(root, "src/app/sip-core.ts"));
  const { SimClock } = await import(resolve(root, "src/protocols/sip/sim-clock.ts"));
  const { SyntheticCalls } = await import(resolve(root, "src/protocols/sip/synthetic-calls.ts"));
  const clock = new SimClock();
  const out: { to: SipPeer; text: string }[] = [];
  const proxy = core.coreProxy(
    `routes: [ { listener: sip, pool: fs } ]
pools: { fs: { balance: round-robin, servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }
`,
    (to: SipPeer, bytes: Buffer) => out.push({ to, text: bytes.toString("latin1") }),
    clock,
  );
  let ns = 0n;
  const feed = (text: string, from: SipPeer) => {
    const buf = Buffer.from(text, "latin1");
    const t = process.hrtime.bigint();
    core.handleDatagram(proxy, buf, from);
    ns += process.hrtime.bigint() - t;
  };
  const driver = new SyntheticCalls(feed, out, HOLD);
  let n = 0;
  return {
    name,
    batch(calls) {
      const before = ns;
      for (let i = 0; i < calls; i++) {
        driver.step(n++);
        clock.advance(1000 / RATE);
      }
      return Number(ns - before) / 1000 / calls;
    },
    close: () => proxy.close(),
  };
}

const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[v.length >> 1] ?? Number.NaN;

const refRoot = process.env.CORE_AB_REF;
if (refRoot === undefined || refRoot === "") {
  process.stderr.write(
    "CORE_AB_REF=<another checkout's root> is needed (e.g. git worktree add /tmp/base main)\n",
  );
  process.exit(2);
}
const self = await load("this", resolve(import.meta.dirname, "../.."));
const ref = await load("ref", refRoot);
// Warm: both up to the steady state (calls in progress, lingering transactions) first.
for (let i = 0; i < Math.ceil((HOLD + 2_000) / BATCH); i++) {
  self.batch(BATCH);
  ref.batch(BATCH);
}
const a: number[] = [];
const b: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const first = r % 2 === 0 ? self : ref;
  const second = first === self ? ref : self;
  const x = first.batch(BATCH);
  const y = second.batch(BATCH);
  const mine = first === self ? x : y;
  const theirs = first === self ? y : x;
  a.push(mine);
  b.push(theirs);
  ratios.push(mine / theirs);
}
self.close();
ref.close();
process.stdout.write(
  `this ${median(a).toFixed(1)} µs/call, ref ${median(b).toFixed(1)} µs/call (medians of ${ROUNDS} batches of ${BATCH}); ` +
    `this/ref: median ${median(ratios).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}\n`,
);
