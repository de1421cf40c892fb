import type { HostPort } from "../core/address.ts";
import { type CounterStore, SlotCounters } from "./counters.ts";
import { applyOutcome, type OutcomeReport } from "./outcome.ts";
import { ServerEntry } from "./server.ts";
import type { ChangeSink, OperatorOverride } from "./types.ts";

/** What the registry needs of the config: each pool's servers, by address. */
export interface RegistryPoolView {
  readonly name: string;
  readonly servers: readonly {
    readonly key: string;
    readonly address: HostPort;
    readonly weight: number;
    readonly maxSessions: number;
  }[];
}

/**
 * Every server Trunkline knows, one entry per address, outliving generations. A server
 * listed in two pools is one entry: one session count, one `max_sessions`, one health and
 * agent state. An entry stays while the config lists it, while sessions still hold it (so a
 * pool that leaves the config for a generation cannot reset a count) and while an operator
 * override is set on it (so a drain survives a pool's removal and return).
 */
export class ServerRegistry {
  readonly #counters: CounterStore;
  readonly #entries = new Map<string, ServerEntry>();
  #emit: ChangeSink;
  #observer: ((e: ServerEntry) => void) | undefined;
  #outcomes: ((key: string, r: OutcomeReport) => void) | undefined;
  /** Worker: servers whose last try this thread sent on failed (its next success matters). */
  readonly #failedHere = new Set<string>();

  constructor(emit: ChangeSink, counters: CounterStore = new SlotCounters()) {
    this.#emit = emit;
    this.#counters = counters;
  }

  get(key: string): ServerEntry | undefined {
    return this.#entries.get(key);
  }

  entries(): IterableIterator<ServerEntry> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adopts a new config: creates entries for new addresses, updates the config layer of the
   * others, and forgets entries nothing holds any more.
   */
  sync(pools: Iterable<RegistryPoolView>): void {
    const seen = new Map<string, { pools: string[]; max: number; weight: number }>();
    for (const p of pools) {
      for (const s of p.servers) {
        let e = this.#entries.get(s.key);
        if (!e) {
          e = new ServerEntry(s.key, s.address, this.#counters.alloc(s.key), this.#counters, this.#emit);
          e.onTouched = this.#observer;
          this.#entries.set(s.key, e);
        }
        const cur = seen.get(s.key);
        if (cur) {
          cur.pools.push(p.name);
          // The config layer rejects pools that disagree; a cap given in one pool holds for all.
          if (s.maxSessions > 0) cur.max = s.maxSessions;
        } else seen.set(s.key, { pools: [p.name], max: s.maxSessions, weight: s.weight });
      }
    }
    for (const [key, e] of this.#entries) {
      const c = seen.get(key);
      if (c) {
        e.pools = c.pools;
        e.maxSessionsConfig = c.max;
        e.firstWeight = c.weight;
      } else {
        e.pools = [];
        if (!e.pinned) this.#drop(e);
      }
    }
  }

  /**
   * A worker thread sends passive health to the main thread, which decides for every thread
   * (its change comes back with the next state). Successes go only where they can change
   * something: after this thread's own failure, or while the server is out.
   */
  sendOutcomes(fn: (key: string, r: OutcomeReport) => void): void {
    this.#outcomes = fn;
  }

  /** One try of a server by a real session (passive health). */
  report(e: ServerEntry, r: OutcomeReport): void {
    const send = this.#outcomes;
    if (!send) {
      applyOutcome(e, r);
      return;
    }
    if (r.ok && !this.#failedHere.has(e.key) && e.downUntil === 0 && e.health === "up") return;
    if (r.ok) this.#failedHere.delete(e.key);
    else this.#failedHere.add(e.key);
    send(e.key, r);
  }

  /** Calls `fn` whenever an entry's state changes (worker threads mirror the main thread's). */
  observe(fn: (e: ServerEntry) => void): void {
    this.#observer = fn;
    for (const e of this.#entries.values()) e.onTouched = fn;
  }

  /** Counts a session on the server if its effective cap allows; the only writer of counts. */
  acquire(e: ServerEntry): boolean {
    // A pool of an older generation may still name an entry the registry has since dropped.
    if (!e.registered) return false;
    return this.#counters.acquire(e.slot, e.maxSessions);
  }

  /**
   * Counts a session that exists already, whatever the cap: a SIP dialog learned from its
   * traffic after a restart (or on a sibling proxy) is on the server whether or not it fits.
   */
  adopt(e: ServerEntry): boolean {
    if (!e.registered) return false;
    return this.#counters.acquire(e.slot, 0);
  }

  release(e: ServerEntry): void {
    if (!e.registered) return;
    this.#counters.release(e.slot);
    if (e.pools.length === 0 && !e.pinned) this.#drop(e);
  }

  #drop(e: ServerEntry): void {
    e.registered = false;
    this.#entries.delete(e.key);
    this.#counters.free(e.slot);
  }

  /** Sets or lifts an operator override; undefined when no such server is configured. */
  override(key: string, next: OperatorOverride, reason: string): ServerEntry | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    e.setOperator(next, reason);
    return e;
  }
}
