/**
 * The warm-up of a new process's (or thread's) SIP code: synthetic calls through a proxy of
 * its own, with no sockets, no events and a simulated clock, before the first SIP listener
 * binds. V8 compiles a function to fast code only once it has run many times; a process that
 * takes a carrier's full call rate at once (a restart, a takeover) ran its first seconds on
 * code not yet optimized (the SIP bench's first step: 625–1,387 µs of CPU per call, about 380
 * once warm), fell behind, and the callers retransmitted (README, "Cold start"). Nothing of it is kept: its calls, servers and
 * timers are the throwaway proxy's.
 */

import type { ListenerConfig } from "../config/types.ts";
import { errorMessage } from "../core/errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { SipListenerOptions } from "../protocols/sip/config.ts";
import { parseMessage } from "../protocols/sip/message.ts";
import { SimClock } from "../protocols/sip/sim-clock.ts";
import { type CALLER, type Sent, SyntheticCalls } from "../protocols/sip/synthetic-calls.ts";
import { coreProxy } from "./sip-core.ts";

/** Calls in progress during the warm-up: each is hung up this many calls after its set-up. */
const HOLD = 50;

export interface WarmUpResult {
  readonly calls: number;
  readonly ms: number;
}

/** Runs `calls` synthetic calls through a SIP proxy core of its own; how long it took. */
export function warmUpSip(calls: number): WarmUpResult {
  const t0 = performance.now();
  const clock = new SimClock();
  const sent: Sent[] = [];
  const proxy = coreProxy(
    "routes: [ { listener: sip, pool: fs } ]\npools: { fs: { servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }\n",
    (to, bytes) => sent.push({ to, text: bytes.toString("latin1") }),
    clock,
  );
  const feed = (text: string, from: typeof CALLER) => {
    const buf = Buffer.from(text, "latin1");
    const m = parseMessage(buf, { stream: false });
    if (!m.ok) throw new Error(`warm-up: ${m.error.message}`);
    proxy.handle({ message: m.message, source: from, flow: undefined, size: buf.length });
  };
  const driver = new SyntheticCalls(feed, sent, HOLD);
  try {
    for (let n = 0; n < calls; n++) {
      driver.step(n);
      clock.advance(2);
    }
  } finally {
    proxy.close();
  }
  return { calls, ms: performance.now() - t0 };
}

/** Whether this thread's SIP code has had its warm-up: once is enough, the compiled code stays. */
const THREAD = { warm: false };

/**
 * The warm-up before a SIP listener is created, the first time in this thread, with the
 * listener's `warm_up` count of calls; said as `sip.warm_up`. Any other listener: nothing.
 */
export function warmUpFor(
  cfg: ListenerConfig,
  events: EventBus<TrunklineEvents>,
  state = THREAD,
  run = warmUpSip,
): void {
  if (state.warm || cfg.protocol !== "sip") return;
  const calls = (cfg.options as SipListenerOptions).warmUpCalls;
  if (calls === 0) return;
  state.warm = true;
  // A warm-up that fails (a bug of ours) costs speed, never the listener: it is said and skipped.
  try {
    const r = run(calls);
    events.emit("sip.warm_up", { listener: cfg.name, calls: r.calls, ms: Math.round(r.ms) });
  } catch (err) {
    events.emit("sip.warm_up", { listener: cfg.name, calls: 0, ms: 0, error: errorMessage(err) });
  }
}
