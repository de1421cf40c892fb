import { Worker } from "node:worker_threads";
import type { RawSource } from "../../config/providers/types.ts";
import type { Snapshot } from "../../config/types.ts";
import { errorMessage } from "../../core/errors.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TransportRow } from "../../observe/metrics-transports.ts";
import { type EntryState, entryState } from "../../servers/mirror.ts";
import { applyOutcome } from "../../servers/outcome.ts";
import { SharedCounterRows } from "../../servers/shared-counters.ts";
import { meshChannels } from "./mesh.ts";
import { FORWARDED_EVENTS, type FromWorker, type ToWorker, type WorkerData } from "./messages.ts";
import { Requests } from "./requests.ts";
import { WorkerTransports } from "./transport-rows.ts";
import type { WorkerSetOptions, WorkerView } from "./types.ts";

// Built: dist/app/workers/thread.js; under tsx (tests): the .ts beside this file.
const THREAD = new URL(`./thread${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

/** Bound on a worker's answer to one request (a bind, a commit); a drain waits for its deadline. */
const REPLY_TIMEOUT_MS = 15_000;
/** A worker that dies again at once is restarted at most this often. */
const RESTART_MIN_GAP_MS = 1_000;

interface Slot {
  worker: Worker | undefined;
  alive: boolean;
  restarts: number;
  failedStarts: number;
  /** The digest of the config it runs. */
  digest: string | undefined;
  lastStart: number;
  readonly requests: Requests;
}

/**
 * The main thread's side of the worker threads: starts them, takes a reload through them in
 * two phases (every thread binds, then all swap; one failure aborts all), mirrors server
 * state to them, re-publishes their events, and restarts one that dies after giving its
 * sessions' slots back.
 */
export class WorkerSet {
  readonly #o: WorkerSetOptions;
  readonly #rows: SharedCounterRows;
  readonly #slots: Slot[] = [];
  #closing = false;
  #dirty = new Set<string>();
  /** The config every worker is to run (the last committed), and the workers a reload prepared. */
  #running: { raw: RawSource; snapshot: Snapshot };
  #prepared: Slot[] = [];
  readonly #transports = new WorkerTransports();

  constructor(o: WorkerSetOptions) {
    this.#o = o;
    this.#running = o.first;
    this.#rows = new SharedCounterRows(o.mem);
    for (let i = 1; i < o.threads; i++)
      this.#slots.push({
        worker: undefined,
        alive: false,
        restarts: 0,
        failedStarts: 0,
        digest: undefined,
        lastStart: 0,
        requests: new Requests(),
      });
    o.registry.observe((e) => {
      if (this.#dirty.size === 0) setImmediate(() => this.#broadcast());
      this.#dirty.add(e.key);
    });
  }

  /** Starts every worker on the running config; rejects (and stops them) if one cannot start. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.#slots.map((_, i) => this.#spawn(i + 1)));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async #spawn(row: number): Promise<void> {
    const slot = this.#slot(row);
    const peers = meshChannels(
      this.#o.mesh,
      row,
      this.#slots.map((s) => s.worker),
    );
    // An event nobody listens to on the main thread is not even built in the worker (has()).
    const forward = FORWARDED_EVENTS.filter((n) => this.#o.events.has(n));
    const data: WorkerData = { mem: this.#o.mem, row, threads: this.#o.threads, forward, peers };
    const w = new Worker(THREAD, { workerData: data, transferList: peers.map(([, p]) => p) });
    slot.worker = w;
    slot.lastStart = Date.now();
    w.on("message", (m: FromWorker) => this.#message(slot, m));
    w.on("error", (err) => this.#exited(row, w, errorMessage(err)));
    w.on("exit", (code) => this.#exited(row, w, `exit code ${code}`));
    try {
      // A reload may commit while this one starts: it catches up before it counts as live.
      for (let round = 0; round < 3; round++) {
        const { raw, snapshot } = this.#running;
        if (slot.digest === snapshot.digest) break;
        const err = await this.#prepareOne(slot, raw, snapshot);
        if (err !== undefined) throw new Error(err);
        await this.#request(slot, (id) => this.#commitMessage(id));
        slot.digest = snapshot.digest;
      }
    } catch (err) {
      void w.terminate();
      throw new Error(`worker ${row}: ${errorMessage(err)}`);
    }
    slot.alive = true;
    this.#o.events.emit("worker", { kind: "started", worker: row });
  }

  #slot(row: number): Slot {
    const s = this.#slots[row - 1];
    if (!s) throw new Error(`no worker ${row}`);
    return s;
  }

  #message(slot: Slot, m: FromWorker): void {
    if (m.t === "reply") {
      slot.requests.answer(m.id, m.error);
      return;
    }
    if (m.t === "outcome") {
      const e = this.#o.registry.get(m.key);
      if (e) applyOutcome(e, m.r);
      return;
    }
    if (m.t === "transports") {
      this.#transports.report(this.#slots.indexOf(slot) + 1, m.rows);
      return;
    }
    const bus = this.#o.events as unknown as EventBus<Record<string, object>>;
    for (const [name, payload] of m.batch) bus.emit(name, payload as object);
  }

  #exited(row: number, w: Worker, why: string): void {
    const slot = this.#slot(row);
    if (slot.worker !== w) return;
    slot.worker = undefined;
    slot.alive = false;
    slot.digest = undefined;
    this.#o.mesh.disconnect(row);
    slot.requests.failAll(`worker ${row} exited (${why})`);
    this.#transports.retire(row);
    if (this.#closing) return;
    // The thread is gone: nothing writes its row now, so its sessions' counts can go back.
    const sessions = this.#rows.releaseRow(row);
    slot.restarts++;
    this.#o.events.emit("worker", { kind: "exited", worker: row, sessions, error: why });
    // One that keeps dying waits longer each time (1 s, 2 s, … 32 s): never a busy loop.
    const gap = RESTART_MIN_GAP_MS * 2 ** Math.min(5, slot.failedStarts);
    const wait = Math.max(0, slot.lastStart + gap - Date.now());
    setTimeout(() => {
      if (this.#closing) return;
      this.#spawn(row).then(
        () => {
          slot.failedStarts = 0;
        },
        (err: unknown) => {
          // Its thread is terminated by #spawn: that exit schedules the next try.
          slot.failedStarts++;
          this.#o.events.emit("worker", { kind: "restart_failed", worker: row, error: errorMessage(err) });
        },
      );
    }, wait).unref();
  }

  #request(slot: Slot, make: (id: number) => ToWorker, timeoutMs = REPLY_TIMEOUT_MS): Promise<void> {
    return slot.requests.send(slot.worker, make, timeoutMs);
  }

  #prepareOne(
    slot: Slot,
    raw: RawSource,
    snapshot: Snapshot,
    ports = this.#o.ports(),
  ): Promise<string | undefined> {
    return this.#request(slot, (id) => ({ t: "prepare", id, raw, digest: snapshot.digest, ports })).then(
      () => undefined,
      (err: unknown) => errorMessage(err),
    );
  }

  #commitMessage(id: number): ToWorker {
    const states: EntryState[] = [...this.#o.registry.entries()].map(entryState);
    return { t: "commit", id, slots: this.#o.counters.assignments(), states };
  }

  #live(): Slot[] {
    return this.#slots.filter((s) => s.alive && s.worker);
  }

  /** Phase one in every worker: validate and bind. The first error, or undefined when all are ready. */
  async prepare(raw: RawSource, snapshot: Snapshot, ports: [string, number][]): Promise<string | undefined> {
    const live = this.#live();
    this.#prepared = live;
    const errs = await Promise.all(live.map((s) => this.#prepareOne(s, raw, snapshot, ports)));
    const i = errs.findIndex((e) => e !== undefined);
    return i < 0 ? undefined : `worker ${this.#slots.indexOf(live[i] as Slot) + 1}: ${errs[i]}`;
  }

  /**
   * Phase two: every prepared worker swaps the config in (the main thread has, with its
   * slots). One that fails here is restarted on it; one that started meanwhile catches up.
   */
  async commit(raw: RawSource, snapshot: Snapshot): Promise<void> {
    this.#running = { raw, snapshot };
    const prepared = this.#prepared;
    this.#prepared = [];
    await Promise.all(
      prepared.map((s) =>
        this.#request(s, (id) => this.#commitMessage(id)).then(
          () => {
            s.digest = snapshot.digest;
          },
          () => s.worker?.terminate(),
        ),
      ),
    );
    // Every worker now runs the latest slots: the ones freed before can be reused.
    this.#o.counters.settle();
  }

  /** Resolves once every live worker has read what was sent to it before (server state included). */
  async sync(): Promise<void> {
    if (this.#dirty.size > 0) this.#broadcast();
    await Promise.all(this.#live().map((s) => this.#request(s, (id) => ({ t: "sync", id })).catch(() => {})));
  }

  async abort(): Promise<void> {
    const prepared = this.#prepared;
    this.#prepared = [];
    await Promise.all(prepared.map((s) => this.#request(s, (id) => ({ t: "abort", id })).catch(() => {})));
  }

  #broadcast(): void {
    const states: EntryState[] = [];
    for (const key of this.#dirty) {
      const e = this.#o.registry.get(key);
      if (e) states.push(entryState(e));
    }
    this.#dirty.clear();
    if (states.length === 0) return;
    // Starting workers too: their commit carried the states as they were when it was sent.
    for (const s of this.#slots) s.worker?.postMessage({ t: "state", states } satisfies ToWorker);
  }

  async drain(deadline: number): Promise<void> {
    await Promise.all(
      this.#live().map((s) =>
        this.#request(s, (id) => ({ t: "drain", id, deadline }), Number.POSITIVE_INFINITY).catch(() => {}),
      ),
    );
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#o.mesh.close();
    await Promise.all(
      this.#slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        await this.#request(s, (id) => ({ t: "close", id })).catch(() => {});
        await w.terminate();
      }),
    );
  }

  /** Ends a worker as a crash would (tests, and `trunkline ctl` later). */
  async kill(row: number): Promise<void> {
    await this.#slot(row).worker?.terminate();
  }

  view(): WorkerView[] {
    return this.#slots.map((s, i) => ({
      worker: i + 1,
      threadId: s.worker?.threadId,
      alive: s.alive,
      sessions: this.#rows.holding(i + 1),
      started: this.#rows.started(i + 1),
      restarts: s.restarts,
    }));
  }

  /** The workers' transports for /metrics (transport-rows.ts). */
  transportRows(): readonly TransportRow[] {
    return this.#transports.rows();
  }

  /** The main thread's own row (it runs listeners too). */
  mainView(): { sessions: number; started: number } {
    return { sessions: this.#rows.holding(0), started: this.#rows.started(0) };
  }
}
