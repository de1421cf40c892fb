import { buildPools } from "../balance/pool.ts";
import type { ListenerConfig, Snapshot } from "../config/types.ts";
import { formatHostPort } from "../core/address.ts";
import { ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import { Gate } from "../core/gate.ts";
import { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import { isGone } from "../health/refusal.ts";
import { reusePortSupported } from "../net/reuse-port.ts";
import type {
  GenerationView,
  ListenerContext,
  ProtocolListener,
  ProtocolRoutes,
  ThreadMeshView,
} from "../protocols/protocol.ts";
import { PROTOCOLS, protocolNamed } from "../protocols/registry.ts";
import type { CounterStore } from "../servers/counters.ts";
import { ServerRegistry } from "../servers/registry.ts";

/** Everything derived from one snapshot. Sessions capture the generation they routed in. */
export interface Generation extends GenerationView {
  readonly routers: ReadonlyMap<string, ProtocolRoutes>;
}

/** Builds a generation: pools over the registry's servers, and each protocol's routes. */
export function buildGeneration(
  snapshot: Snapshot,
  registry: ServerRegistry,
  previous?: Generation,
  number = (previous?.number ?? 0) + 1,
): Generation {
  const pools = buildPools(snapshot.pools, registry, previous?.pools);
  const routers = new Map<string, ProtocolRoutes>();
  for (const p of PROTOCOLS) {
    routers.set(
      p.name,
      p.buildRoutes(snapshot.routes, (n) => pools.has(n), previous?.routers.get(p.name)),
    );
  }
  return { number, snapshot, pools, routers, routes: (p) => routers.get(p) };
}

export interface RuntimeOptions {
  /** Where session counts live (shared with worker threads); one thread's own by default. */
  readonly counters?: CounterStore;
  /** Which of the config's listeners run here (a worker thread leaves SIP to the main thread). */
  readonly runs?: (cfg: ListenerConfig) => boolean;
  /** Bind `:0` listeners shareable: worker threads will join the port the kernel gives. */
  readonly sharePortZero?: boolean;
  /** Channels to the other listener threads (SIP hands messages to their Call-ID's thread). */
  readonly mesh?: ThreadMeshView;
  /** Runs for each listener of the first start before any binds (the SIP warm-up: app/sip-warm-up.ts). */
  readonly beforeListener?: (cfg: ListenerConfig) => void;
}

/** A reload's first phase, done: the listeners it bound, waiting for commit or abort. */
export interface PreparedReload {
  readonly snapshot: Snapshot;
  readonly started: readonly ProtocolListener[];
  readonly replaced: readonly ProtocolListener[];
  readonly handedOver: readonly ProtocolListener[];
  /** The new listeners' gates, opened at commit (and at abort). */
  readonly gates: readonly Gate[];
}

/**
 * The running proxy: listeners plus the current generation. `apply()` swaps a new snapshot
 * in whole; if a new listener cannot bind, nothing changes and the error is returned.
 */
export class Runtime {
  readonly events: EventBus<TrunklineEvents>;
  readonly registry: ServerRegistry;
  #gen: Generation | undefined;
  readonly #listeners = new Map<string, ProtocolListener>();
  readonly #draining = new Set<ProtocolListener>();
  readonly #ctx: ListenerContext;
  readonly #runs: (cfg: ListenerConfig) => boolean;
  readonly #beforeListener: ((cfg: ListenerConfig) => void) | undefined;

  constructor(events = new EventBus<TrunklineEvents>(), opts: RuntimeOptions = {}) {
    this.events = events;
    this.registry = new ServerRegistry((c) => {
      events.emit("server.state", c);
      if (isGone(c)) events.emit("server.gone", { server: c.server, reason: c.reason });
    }, opts.counters);
    this.#ctx = {
      events,
      current: () => this.generation,
      reusePort: reusePortSupported(),
      ...(opts.sharePortZero ? { sharePortZero: true } : {}),
      ...(opts.mesh ? { mesh: opts.mesh } : {}),
    };
    this.#runs = opts.runs ?? (() => true);
    this.#beforeListener = opts.beforeListener;
  }

  get generation(): Generation {
    if (!this.#gen) throw new Error("runtime not started");
    return this.#gen;
  }

  listener(name: string): ProtocolListener | undefined {
    return this.#listeners.get(name);
  }

  get listeners(): ReadonlyMap<string, ProtocolListener> {
    return this.#listeners;
  }

  /** Listeners taking sessions, then those a reload retired that still run theirs. */
  *allListeners(): IterableIterator<ProtocolListener> {
    yield* this.#listeners.values();
    yield* this.#draining;
  }

  /** Whether a config has been applied (`generation` throws before). */
  get started(): boolean {
    return this.#gen !== undefined;
  }

  get activeSessions(): number {
    let n = 0;
    for (const l of this.allListeners()) n += l.sessions;
    return n;
  }

  async start(snapshot: Snapshot): Promise<void> {
    const err = await this.apply(snapshot);
    if (err) throw err;
  }

  /** The listener (current or draining) bound to the address a config names. */
  #holder(cfg: ListenerConfig): ProtocolListener | undefined {
    const want = formatHostPort(cfg.listen);
    for (const l of this.allListeners())
      if (cfg.listen.port !== 0 && formatHostPort(l.config.listen) === want) return l;
    return undefined;
  }

  /**
   * Starts a new listener. When its address is held by one that is being replaced (TLS
   * turned on or off, a protocol change, a rename), that one hands the address over: it
   * closes its listening socket (its sessions go on), the new one binds, and on failure the
   * old one takes the address back.
   */
  async #bind(l: ProtocolListener, handedOver: ProtocolListener[]): Promise<void> {
    try {
      await l.start();
      return;
    } catch (err) {
      const holder =
        (err as NodeJS.ErrnoException).code === "EADDRINUSE" ? this.#holder(l.config) : undefined;
      if (!holder) throw err;
      await holder.release();
      handedOver.push(holder);
      await l.start();
    }
  }

  /** Applies a validated snapshot. Returns an error (and changes nothing) if a listener cannot bind. */
  async apply(snapshot: Snapshot): Promise<TrunklineError | undefined> {
    const p = await this.prepare(snapshot);
    if (p instanceof TrunklineError) return p;
    this.commit(p);
    return undefined;
  }

  /**
   * The first phase of a reload: binds the listeners the snapshot adds or changes, and
   * nothing else. `commit` then swaps the generation in, or `abort` closes what was bound,
   * so that a reload across worker threads happens in all of them or in none.
   */
  async prepare(snapshot: Snapshot): Promise<PreparedReload | TrunklineError> {
    const started: ProtocolListener[] = [];
    const replaced: ProtocolListener[] = [];
    const handedOver: ProtocolListener[] = [];
    const gates: Gate[] = [];
    // At the first start only, before any listener binds (a takeover's connections then wait on
    // nothing of it); never at a reload, whose loop is serving.
    if (this.#gen === undefined && this.#beforeListener)
      for (const cfg of snapshot.listeners) if (this.#runs(cfg)) this.#beforeListener(cfg);
    for (const cfg of snapshot.listeners) {
      if (!this.#runs(cfg)) continue;
      const proto = protocolNamed(cfg.protocol);
      if (!proto)
        return new TrunklineError(ErrorCodes.LISTEN, `listener ${cfg.name}: no protocol "${cfg.protocol}"`);
      const cur = this.#listeners.get(cfg.name);
      if (cur && cur.config.protocol === cfg.protocol && proto.sameBinding(cur.config, cfg)) continue;
      const gate = new Gate();
      gates.push(gate);
      const l = proto.createListener(cfg, { ...this.#ctx, gate });
      try {
        await this.#bind(l, handedOver);
      } catch (e) {
        await this.abort({ snapshot, started, replaced, handedOver, gates });
        await l.close();
        return new TrunklineError(
          ErrorCodes.LISTEN,
          `listener ${cfg.name} cannot listen on ${formatHostPort(cfg.listen)}: ${errorMessage(e)}`,
          { cause: e },
        );
      }
      started.push(l);
      if (cur) replaced.push(cur);
    }
    return { snapshot, started, replaced, handedOver, gates };
  }

  /** Closes what `prepare` bound and gives handed-over addresses back: the old config runs on. */
  async abort(p: PreparedReload): Promise<void> {
    for (const g of p.gates) g.openNow();
    for (const s of p.started) await s.close();
    for (const h of p.handedOver) await h.rebind().catch(() => {});
  }

  /** The second phase: the new generation in, retired listeners draining. Cannot fail. */
  commit(p: PreparedReload): void {
    const { snapshot, started, replaced } = p;
    const previous = this.#gen;
    const gen = buildGeneration(snapshot, this.registry, previous);
    this.#gen = gen;
    for (const g of p.gates) g.openNow();
    const names = new Set(snapshot.listeners.filter((l) => this.#runs(l)).map((l) => l.name));
    for (const [name, l] of this.#listeners) {
      if (!names.has(name)) {
        this.#listeners.delete(name);
        this.#retire(l);
      }
    }
    for (const l of replaced) this.#retire(l);
    for (const cfg of snapshot.listeners) {
      if (!this.#runs(cfg)) continue;
      const fresh = started.find((l) => l.config === cfg);
      if (fresh) this.#listeners.set(cfg.name, fresh);
      else this.#listeners.get(cfg.name)?.update(cfg);
    }
    if (previous) {
      // Calls in flight keep the old routes (and any worker not handed on) until their own timeout.
      for (const [name, routes] of previous.routers) {
        if (gen.routers.get(name) === routes) continue;
        setTimeout(() => void routes.close(), routes.lingerMs).unref();
      }
    }
  }

  /** A listener leaving the config stops accepting; its sessions run to their end. */
  #retire(l: ProtocolListener): void {
    this.#draining.add(l);
    void l.drain(Number.POSITIVE_INFINITY).then(() => this.#draining.delete(l));
  }

  async drain(deadline: number): Promise<void> {
    await Promise.all([...this.allListeners()].map((l) => l.drain(deadline)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.allListeners()].map((l) => l.close()));
    for (const r of this.#gen?.routers.values() ?? []) await r.close();
  }
}
