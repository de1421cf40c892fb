import type { RawSource } from "../../config/providers/types.ts";
import type { ListenerConfig, Snapshot } from "../../config/types.ts";
import { ErrorCodes, TrunklineError } from "../../core/errors.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import { reusePortSupported } from "../../net/reuse-port.ts";
import type { TransportRow } from "../../observe/metrics-transports.ts";
import {
  type SharedCounterMemory,
  SharedSlotCounters,
  sharedCounterMemory,
} from "../../servers/shared-counters.ts";
import type { Runtime, RuntimeOptions } from "../runtime.ts";
import { warmUpFor } from "../sip-warm-up.ts";
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
  /** What the main thread's Runtime needs to share with the workers (nothing with one thread). */
  readonly runtimeOptions: RuntimeOptions;
  readonly #events: EventBus<TrunklineEvents>;
  readonly #raw: WeakMap<Snapshot, RawSource>;
  /** The shared counts and the channels to the workers, with more than one thread. */
  readonly #shared:
    | { readonly mem: SharedCounterMemory; readonly counters: SharedSlotCounters; readonly mesh: ThreadMesh }
    | undefined;
  #set: WorkerSet | undefined;

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
    // The main thread's SIP code warms up before its listeners bind (the workers start after).
    const beforeListener = (cfg: ListenerConfig) => warmUpFor(cfg, events);
    if (this.threads > 1) {
      const mem = sharedCounterMemory(this.threads);
      const shared = {
        mem,
        counters: new SharedSlotCounters(mem, 0, true),
        mesh: new ThreadMesh(0, this.threads),
      };
      this.#shared = shared;
      this.runtimeOptions = {
        counters: shared.counters,
        mesh: shared.mesh,
        sharePortZero: true,
        beforeListener,
      };
    } else {
      this.#shared = undefined;
      this.runtimeOptions = { beforeListener };
    }
  }

  /** Starts the worker threads once the main thread's runtime runs `snapshot`. */
  async start(runtime: Runtime, snapshot: Snapshot): Promise<void> {
    const shared = this.#shared;
    if (!shared) return;
    const raw = this.#raw.get(snapshot);
    if (!raw) throw new Error("the running config's text is not known");
    const set = new WorkerSet({
      threads: this.threads,
      mem: shared.mem,
      counters: shared.counters,
      registry: runtime.registry,
      events: this.#events,
      first: { raw, snapshot },
      ports: () => portsOf(runtime),
      mesh: shared.mesh,
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

  /** The workers' transports, as each last reported them (none with one thread). */
  transportRows(): readonly TransportRow[] {
    return this.#set?.transportRows() ?? [];
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
