import type { RawSource } from "../../config/providers/types.ts";
import type { Snapshot } from "../../config/types.ts";
import { ErrorCodes, TrunklineError } from "../../core/errors.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import { reusePortSupported } from "../../net/reuse-port.ts";
import type { CounterStore } from "../../servers/counters.ts";
import { SharedSlotCounters, sharedCounterMemory } from "../../servers/shared-counters.ts";
import type { Runtime } from "../runtime.ts";
import { ThreadMesh } from "./mesh.ts";
import { WorkerSet } from "./set.ts";
import type { WorkerView } from "./types.ts";

/**
 * How many threads run the listeners, decided once at start from `workers:`: above 1 the
 * counts move into shared memory and worker threads join the main thread; on a Node without
 * SO_REUSEPORT for listeners it stays one thread, said in one line.
 */
export class ListenerThreads {
  readonly threads: number;
  readonly counters: CounterStore | undefined;
  readonly #events: EventBus<TrunklineEvents>;
  readonly #raw: WeakMap<Snapshot, RawSource>;
  readonly #mem;
  #set: WorkerSet | undefined;
  /** The main thread's channels to the workers (undefined with one thread). */
  readonly mesh: ThreadMesh | undefined;

  /** `raws`: the text each snapshot was parsed from (workers validate it again). */
  constructor(first: Snapshot, events: EventBus<TrunklineEvents>, raws: WeakMap<Snapshot, RawSource>) {
    this.#events = events;
    this.#raw = raws;
    const want = first.workers;
    if (want > 1 && !reusePortSupported()) {
      this.threads = 1;
      events.emit("worker", {
        kind: "not_started",
        error: `workers: ${want} needs Node >= 22.12 (SO_REUSEPORT for listeners); this is Node ${process.versions.node}: running one thread`,
      });
    } else this.threads = want;
    this.#mem = this.threads > 1 ? sharedCounterMemory(this.threads) : undefined;
    this.counters = this.#mem ? new SharedSlotCounters(this.#mem, 0, true) : undefined;
    this.mesh = this.#mem ? new ThreadMesh(0, this.threads) : undefined;
  }

  /** Starts the worker threads once the main thread's runtime runs `current()`. */
  async start(runtime: Runtime, current: () => Snapshot): Promise<void> {
    if (!this.#mem || !this.mesh || !(this.counters instanceof SharedSlotCounters)) return;
    const set = new WorkerSet({
      threads: this.threads,
      mem: this.#mem,
      counters: this.counters,
      registry: runtime.registry,
      events: this.#events,
      current: () => {
        const snapshot = current();
        const raw = this.#raw.get(snapshot);
        if (!raw) throw new Error("the running config's text is not known");
        return { raw, snapshot };
      },
      ports: () => portsOf(runtime),
      mesh: this.mesh,
    });
    await set.start();
    this.#set = set;
  }

  /** A reload through every thread: all bind, then all swap; any failure leaves every thread as it was. */
  async apply(runtime: Runtime, s: Snapshot): Promise<TrunklineError | undefined> {
    if (s.workers !== runtime.generation.snapshot.workers && s.workers !== this.threads)
      this.#events.emit("worker", {
        kind: "not_started",
        error: `workers: ${s.workers} takes effect at the next start; ${this.threads} thread(s) run now`,
      });
    const set = this.#set;
    if (!set) return runtime.apply(s);
    const raw = this.#raw.get(s);
    if (!raw) return new TrunklineError(ErrorCodes.LISTEN, "the new config's text is not known");
    const p = await runtime.prepare(s);
    if (p instanceof TrunklineError) return p;
    const ports = portsOf(runtime);
    for (const l of p.started) if (l.address) ports.push([l.config.name, l.address.port]);
    const err = await set.prepare(raw, s, ports);
    if (err !== undefined) {
      await runtime.abort(p);
      await set.abort();
      return new TrunklineError(ErrorCodes.LISTEN, err);
    }
    runtime.commit(p);
    await set.commit(raw, s);
    return undefined;
  }

  /** Resolves once every worker has taken the server state changes made so far. */
  sync(): Promise<void> {
    return this.#set?.sync() ?? Promise.resolve();
  }

  drain(deadline: number): Promise<void> {
    return this.#set?.drain(deadline) ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.#set?.close() ?? Promise.resolve();
  }

  /** Ends worker `row` as a crash would (tests). */
  kill(row: number): Promise<void> {
    return this.#set?.kill(row) ?? Promise.resolve();
  }

  /** Every thread that runs listeners: the main thread (0) and each worker. */
  view(): WorkerView[] {
    const set = this.#set;
    if (!set) return [];
    const main = set.mainView();
    return [{ worker: 0, threadId: 0, alive: true, restarts: 0, ...main }, ...set.view()];
  }
}

/** The ports the main thread's listeners are bound to, by listener name. */
function portsOf(runtime: Runtime): [string, number][] {
  const out: [string, number][] = [];
  for (const [name, l] of runtime.listeners) if (l.address) out.push([name, l.address.port]);
  return out;
}
