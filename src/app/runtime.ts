import { buildPools, type Pool } from "../balance/pool.ts";
import type { ChangeSink } from "../balance/server-state.ts";
import type { ListenerConfig, RouteConfig, Snapshot } from "../config/types.ts";
import { formatHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { ScriptRunner } from "../core/script-runner.ts";
import type { Log } from "../core/types.ts";
import { connectUpstream } from "../protocols/fastagi/connect.ts";
import { FastAgiListener } from "../protocols/fastagi/listener.ts";
import { decide, type RouteTable } from "../protocols/fastagi/router.ts";
import type { SessionEnv, SessionRecord } from "../protocols/fastagi/session.ts";

/** Everything derived from one snapshot. Sessions capture the generation they started in. */
export interface Generation {
  readonly snapshot: Snapshot;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly table: RouteTable;
  readonly scripts: ReadonlyMap<number, ScriptRunner>;
}

export interface RuntimeHooks {
  readonly log: Log;
  readonly onSession?: (record: SessionRecord) => void;
  readonly onServerChange?: ChangeSink;
  /** Called after a generation is applied (health checks hook in here). */
  readonly onGeneration?: (gen: Generation, previous: Generation | undefined) => void;
}

export function buildGeneration(snapshot: Snapshot, emit: ChangeSink, previous?: Generation): Generation {
  const pools = buildPools(snapshot.pools, emit, previous?.pools);
  const scripts = new Map<number, ScriptRunner>();
  for (const r of snapshot.routes) {
    if (r.script)
      scripts.set(r.index, new ScriptRunner(r.script.file, r.script.exportName, r.script.timeoutMs));
  }
  const table: RouteTable = {
    routes: snapshot.routes,
    hasPool: (name) => pools.has(name),
    runScript: (route: RouteConfig, request) => {
      const runner = scripts.get(route.index);
      return runner ? runner.call(request) : Promise.resolve({ ok: false, error: "route script not loaded" });
    },
  };
  return { snapshot, pools, table, scripts };
}

function sameBinding(a: ListenerConfig, b: ListenerConfig): boolean {
  // Turning TLS or client-certificate checking on or off needs a new socket: a live
  // setSecureContext() swaps certificates but cannot change requestCert.
  return (
    a.protocol === b.protocol &&
    formatHostPort(a.listen) === formatHostPort(b.listen) &&
    (a.tls === undefined) === (b.tls === undefined) &&
    (a.tls?.ca === undefined) === (b.tls?.ca === undefined)
  );
}

/**
 * The running proxy: listeners plus the current generation. `apply()` swaps a new snapshot
 * in whole; if a new listener cannot bind, nothing changes and the error is returned.
 */
export class Runtime {
  #gen: Generation | undefined;
  readonly #listeners = new Map<string, FastAgiListener>();
  readonly #draining = new Set<FastAgiListener>();
  readonly #hooks: RuntimeHooks;
  readonly #log: Log;
  readonly #emit: ChangeSink;

  constructor(hooks: RuntimeHooks) {
    this.#hooks = hooks;
    this.#log = hooks.log;
    this.#emit = (c) => {
      hooks.onServerChange?.(c);
    };
  }

  get generation(): Generation {
    if (!this.#gen) throw new Error("runtime not started");
    return this.#gen;
  }

  listener(name: string): FastAgiListener | undefined {
    return this.#listeners.get(name);
  }

  get activeSessions(): number {
    let n = 0;
    for (const l of this.#listeners.values()) n += l.sessions;
    for (const l of this.#draining) n += l.sessions;
    return n;
  }

  #envFactory = (listener: ListenerConfig): SessionEnv => {
    let gen: Generation | undefined;
    return {
      listener,
      decide: (req) => {
        gen = this.generation;
        return decide(gen.table, listener.name, req);
      },
      pool: (name) => (gen ?? this.generation).pools.get(name),
      connect: connectUpstream,
      ended: (record) => this.#hooks.onSession?.(record),
    };
  };

  async start(snapshot: Snapshot): Promise<void> {
    const err = await this.apply(snapshot);
    if (err) throw err;
  }

  /** Applies a validated snapshot. Returns an error (and changes nothing) if a listener cannot bind. */
  async apply(snapshot: Snapshot): Promise<Error | undefined> {
    const previous = this.#gen;
    const started: FastAgiListener[] = [];
    const replaced: FastAgiListener[] = [];
    for (const cfg of snapshot.listeners) {
      const cur = this.#listeners.get(cfg.name);
      if (cur && sameBinding(cur.config, cfg)) continue;
      const l = new FastAgiListener(cfg, this.#envFactory, this.#log);
      try {
        await l.start();
      } catch (e) {
        for (const s of started) await s.close();
        return new Error(
          `listener ${cfg.name} cannot listen on ${formatHostPort(cfg.listen)}: ${errorMessage(e)}`,
        );
      }
      started.push(l);
      if (cur) replaced.push(cur);
    }
    const gen = buildGeneration(snapshot, this.#emit, previous);
    this.#gen = gen;
    const names = new Set(snapshot.listeners.map((l) => l.name));
    for (const [name, l] of this.#listeners) {
      if (!names.has(name)) {
        this.#listeners.delete(name);
        this.#retire(l);
      }
    }
    for (const l of replaced) this.#retire(l);
    for (const cfg of snapshot.listeners) {
      const fresh = started.find((l) => l.config === cfg);
      if (fresh) this.#listeners.set(cfg.name, fresh);
      else this.#listeners.get(cfg.name)?.update(cfg);
    }
    if (previous) {
      // In-flight script calls keep their runner until their own timeout; then it goes.
      const maxTimeout = Math.max(0, ...[...previous.scripts.values()].map((s) => s.timeoutMs));
      setTimeout(() => {
        for (const s of previous.scripts.values()) void s.close();
      }, maxTimeout + 100).unref();
    }
    this.#hooks.onGeneration?.(gen, previous);
    return undefined;
  }

  /** A listener leaving the config stops accepting; its sessions run to their end. */
  #retire(l: FastAgiListener): void {
    this.#draining.add(l);
    void l.drain(Number.POSITIVE_INFINITY).then(() => this.#draining.delete(l));
  }

  async drain(deadline: number): Promise<void> {
    await Promise.all([...this.#listeners.values(), ...this.#draining].map((l) => l.drain(deadline)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#listeners.values(), ...this.#draining].map((l) => l.close()));
    for (const s of this.#gen?.scripts.values() ?? []) await s.close();
  }
}
