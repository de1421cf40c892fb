/**
 * The warm-up of a new process's SIP code: synthetic calls through a proxy of its own, with no
 * sockets, its own events and servers and a simulated clock, when the process first starts,
 * before any of its listeners binds (Runtime's beforeListener). V8 compiles a function to fast
 * code only once it has run many times; a process that takes a carrier's full call rate at
 * once (a restart, a takeover) ran its first seconds on code not yet optimized (the SIP
 * bench's first step: 625–1,387 µs of CPU per call, about 380 once warm), fell behind, and
 * the callers retransmitted (README, "Cold start"). Nothing of it is kept: its calls, servers
 * and timers are the throwaway proxy's.
 */

import type { ListenerConfig } from "../config/types.ts";
import { errorMessage } from "../core/errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { SipListenerOptions } from "../protocols/sip/config.ts";
import { SimClock } from "../protocols/sip/sim-clock.ts";
import { type Sent, SyntheticCalls } from "../protocols/sip/synthetic-calls.ts";
import type { SipPeer } from "../protocols/sip/transport.ts";
import { coreProxy, handleDatagram } from "./sip-core.ts";

/** Calls in progress during the warm-up: each is hung up this many calls after its set-up. */
const HOLD = 50;

/**
 * The warm-up stops here whatever its count: it holds the thread's event loop (a busy machine
 * took 1.7 s for 2,000 calls), and a start must stay well inside the workers' reply bound.
 */
export const WARM_UP_BUDGET_MS = 2_000;

export interface WarmUpResult {
  /** Calls played (fewer than asked when the time budget ran out). */
  readonly calls: number;
  readonly ms: number;
  /** Datagrams the throwaway proxy sent after its close, over a day of its simulated time: none. */
  readonly sentAfterClose: number;
}

/** Runs up to `calls` synthetic calls through a SIP proxy core of its own, within `budgetMs`. */
export function warmUpSip(calls: number, budgetMs = WARM_UP_BUDGET_MS): WarmUpResult {
  const t0 = performance.now();
  const clock = new SimClock();
  const sent: Sent[] = [];
  const proxy = coreProxy(
    "routes: [ { listener: sip, pool: fs } ]\npools: { fs: { servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }\n",
    (to, bytes) => sent.push({ to, text: bytes.toString("latin1") }),
    clock,
  );
  const feed = (text: string, from: SipPeer) => handleDatagram(proxy, Buffer.from(text, "latin1"), from);
  const driver = new SyntheticCalls(feed, sent, HOLD);
  let n = 0;
  try {
    for (; n < calls; n++) {
      if (n % 50 === 0 && performance.now() - t0 > budgetMs) break;
      driver.step(n);
      clock.advance(2);
    }
    // And one left ringing, as a carrier's calls are at any moment: close() must end it.
    driver.ring(n);
  } finally {
    proxy.close();
  }
  const ms = performance.now() - t0;
  // Whatever its timers would still do (retransmit, CANCEL, expire) is done now, into the void.
  sent.length = 0;
  clock.advance(24 * 3600_000);
  return { calls: n, ms, sentAfterClose: sent.length };
}

/** Whether this process's SIP code has had its warm-up: once is enough, the compiled code stays. */
const PROCESS = { warm: false };

/**
 * The warm-up before the first SIP listener of this process is created, with that listener's
 * `warm_up` count of calls (the first SIP listener decides, 0 included: a later one, or a
 * reload, never warms up); said as `sip.warm_up`. Any other listener: nothing.
 */
export function warmUpFor(
  cfg: ListenerConfig,
  events: EventBus<TrunklineEvents>,
  state = PROCESS,
  run = warmUpSip,
): void {
  if (state.warm || cfg.protocol !== "sip") return;
  state.warm = true;
  const calls = (cfg.options as SipListenerOptions).warmUpCalls;
  if (calls === 0) return;
  // A warm-up that fails (a bug of ours) costs speed, never the listener: it is said and skipped.
  let said: TrunklineEvents["sip.warm_up"];
  try {
    const r = run(calls);
    said = { listener: cfg.name, calls: r.calls, ms: Math.round(r.ms) };
  } catch (err) {
    said = { listener: cfg.name, calls: 0, ms: 0, error: errorMessage(err) };
  }
  events.emit("sip.warm_up", said);
}
