import { performance } from "node:perf_hooks";
import { type MessagePort, receiveMessageOnPort, type Worker } from "node:worker_threads";
import { CallQueue, PendingCalls, type ScriptOutcome, type SettleCall } from "./script-calls.ts";
import { startWorker, type WorkerMessage } from "./script-worker.ts";

export type { ScriptOutcome } from "./script-calls.ts";

export interface ScriptRunnerOptions {
  /** Digest of the script file's bytes, computed by the caller; lets a reload keep this runner. */
  readonly digest?: string;
  /** Calls that may wait for a starting worker; more fail at once. */
  readonly maxQueued?: number;
  /** Bound on worker start-up (spawn to ready); default max(5 s, 10 × timeout). */
  readonly startTimeoutMs?: number;
}

const DEFAULT_MAX_QUEUED = 1000;

/**
 * Runs a user's routing function in a worker thread, so that a throw, a rejected promise,
 * a slow answer or even an endless loop in it costs one session a FAILURE and never the
 * proxy: each call is bounded by a timeout, and a worker that misses one is terminated and
 * replaced at once.
 *
 * The worker imports the module and resolves the export before it says `ready`, and a
 * call's timeout only starts when the call is handed to a ready worker: thread start-up and
 * module import (tens of milliseconds idle, much more on a loaded machine) would otherwise
 * eat into a short script_timeout. Calls made while the worker starts wait in a bounded
 * queue, and start-up itself is bounded, so no call waits forever.
 */
export class ScriptRunner {
  readonly file: string;
  readonly exportName: string;
  readonly digest: string | undefined;
  readonly #startTimeoutMs: number | undefined;
  #timeoutMs: number;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;
  #takeArrived: () => void = () => {};
  #workerReady = false;
  #spawnedAt = 0;
  #startupMs: number | undefined;
  #startTimer: NodeJS.Timeout | undefined;
  #startWaiters: (() => void)[] = [];
  #loadError: string | undefined;
  #closed = false;
  #nextId = 1;
  readonly #pending = new PendingCalls();
  readonly #queue: CallQueue;

  constructor(file: string, exportName: string, timeoutMs: number, options: ScriptRunnerOptions = {}) {
    this.file = file;
    this.exportName = exportName;
    this.#timeoutMs = timeoutMs;
    this.digest = options.digest;
    this.#queue = new CallQueue(options.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.#startTimeoutMs = options.startTimeoutMs;
  }

  /** Per-call bound, counted from the moment a ready worker is handed the call. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Adopts a new script_timeout for calls handed over from now on; no restart. */
  setTimeoutMs(ms: number): void {
    this.#timeoutMs = ms;
  }

  /** A worker has loaded the module and waits for calls. */
  get ready(): boolean {
    return this.#worker !== undefined && this.#workerReady;
  }

  /** Why the module could not be loaded; set, every call fails with it at once. */
  get loadError(): string | undefined {
    return this.#loadError;
  }

  /** Milliseconds from spawn to ready of the last worker that became ready. */
  get startupMs(): number | undefined {
    return this.#startupMs;
  }

  /**
   * True when a reload naming this file, export and content digest may keep this runner
   * (and its warm worker). Without digests on both sides the content cannot be vouched for;
   * a runner that failed to load or is closed is not worth keeping.
   */
  reusableFor(file: string, exportName: string, digest: string | undefined): boolean {
    return (
      !this.#closed &&
      this.#loadError === undefined &&
      this.digest !== undefined &&
      digest === this.digest &&
      file === this.file &&
      exportName === this.exportName
    );
  }

  /**
   * Spawns the worker now; resolves once it is ready, failed to load (see loadError), did
   * not start in time, or the runner closed. Never rejects.
   */
  start(): Promise<void> {
    if (this.#closed || this.#loadError !== undefined || this.ready) return Promise.resolve();
    if (this.#worker === undefined) this.#spawn();
    return new Promise((resolve) => this.#startWaiters.push(resolve));
  }

  call(request: unknown): Promise<ScriptOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, error: "route script closed" });
    if (this.#loadError !== undefined) return Promise.resolve({ ok: false, error: this.#loadError });
    const worker = this.#worker;
    const port = this.#port;
    if (worker !== undefined && port !== undefined && this.#workerReady) {
      return new Promise((resolve) => this.#dispatch(worker, port, request, resolve));
    }
    if (this.#queue.full) {
      return Promise.resolve({
        ok: false,
        error: `route script worker is starting and ${this.#queue.max} calls already wait for it`,
      });
    }
    if (worker === undefined) this.#spawn();
    return new Promise((resolve) => this.#queue.push({ request, resolve }));
  }

  /**
   * Closes once the calls already made are answered (queued ones included: a session that
   * waits for a cold worker survives the reload that retires this runner), bounded by the
   * worker's start-up bound plus one call's timeout.
   */
  async closeWhenIdle(): Promise<void> {
    const deadline = performance.now() + this.#startBoundMs() + this.#timeoutMs;
    while (!this.#closed && this.#queue.size + this.#pending.size > 0 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.failAll("route script closed");
    this.#pending.failAll("route script closed");
    const w = this.#dropWorker();
    this.#settleStart();
    if (w) await w.terminate();
  }

  #startBoundMs(): number {
    return this.#startTimeoutMs ?? Math.max(5000, 10 * this.#timeoutMs);
  }

  #spawn(): void {
    let w: Worker;
    let port: MessagePort;
    try {
      ({ worker: w, port } = startWorker(this.file, this.exportName));
    } catch (err) {
      this.#loadFailed(
        `route script worker could not be started: ${err instanceof Error ? err.message : err}`,
      );
      return;
    }
    this.#worker = w;
    this.#port = port;
    this.#workerReady = false;
    this.#spawnedAt = performance.now();
    const bound = this.#startBoundMs();
    // Unref'd: while it matters the worker itself is ref'd (see #updateRef).
    this.#startTimer = setTimeout(() => {
      if (this.#worker !== w || this.#workerReady) return;
      // Not made permanent: a loaded machine may be slower than the bound. The next call
      // spawns again (lazily, so a module looping at top level does not burn a core forever).
      void this.#dropWorker()?.terminate();
      this.#queue.failAll(`route script worker did not start within ${bound}ms`);
      this.#settleStart();
    }, bound).unref();
    this.#updateRef();

    const onMessage = (msg: WorkerMessage) => {
      if (this.#worker !== w) return;
      if ("ready" in msg) {
        this.#workerReady = true;
        this.#startupMs = performance.now() - this.#spawnedAt;
        clearTimeout(this.#startTimer);
        this.#startTimer = undefined;
        for (const q of this.#queue.takeAll()) this.#dispatch(w, port, q.request, q.resolve, q.moved);
        this.#updateRef();
        this.#settleStart();
      } else if ("loadError" in msg) {
        this.#loadFailed(msg.loadError);
      } else {
        const outcome: ScriptOutcome =
          msg.error !== undefined ? { ok: false, error: msg.error } : { ok: true, value: msg.result };
        if (!this.#pending.settle(msg.id, outcome)) return;
        this.#updateRef();
      }
    };
    port.on("message", onMessage);
    // The worker's own ref decides liveness (see #updateRef); the port must not add to it.
    port.unref();
    this.#takeArrived = () => {
      // Bounded: only what has already arrived, and never more than a worker could owe us.
      const most = this.#pending.size + 2;
      for (let i = 0; i < most && this.#worker === w; i++) {
        const m = receiveMessageOnPort(port);
        if (m === undefined) return;
        onMessage(m.message as WorkerMessage);
      }
    };
    const onDead = (reason: string) => {
      if (this.#worker !== w) return;
      if (!this.#workerReady) {
        // Died while importing the module (process.exit at top level, out of memory):
        // as broken as a module that throws.
        this.#loadFailed(`${reason} while loading ${this.file}`);
        return;
      }
      const hadCalls = this.#pending.size > 0;
      this.#dropWorker();
      this.#pending.failAll(reason);
      // A call killed it: replace it now so the next call finds a warm worker. One that
      // dies on its own with nothing in flight is replaced lazily, so a module that exits
      // from a timer cannot make a respawn loop.
      if (hadCalls && !this.#closed) this.#spawn();
    };
    w.on("error", (err) => onDead(`route script crashed: ${err.message}`));
    w.on("exit", (code) => onDead(`route script worker exited with code ${code}`));
  }

  #dispatch(worker: Worker, port: MessagePort, request: unknown, resolve: SettleCall, moved = false): void {
    const id = this.#nextId++;
    const timeoutMs = this.#timeoutMs;
    const timer = setTimeout(() => {
      // Timers run before I/O in the event loop: when the proxy's own thread was stalled
      // (a loaded machine), the answer may be waiting behind this timer. Take it first.
      if (this.#worker === worker) this.#takeArrived();
      if (!this.#pending.delete(id)) return;
      resolve({ ok: false, error: `route script did not answer within ${timeoutMs}ms` });
      // It may be stuck in a loop: replace it now. The other calls in flight go to the new
      // worker (once: a call moved before fails), so one caller's loop fails only its own session.
      if (this.#worker === worker) {
        void this.#dropWorker()?.terminate();
        const others = this.#pending.takeMovable("route script restarted after a timeout");
        if (this.#closed) for (const q of others) q.resolve({ ok: false, error: "route script closed" });
        else {
          for (const q of others) this.#queue.push(q);
          this.#spawn();
        }
      }
    }, timeoutMs).unref();
    this.#pending.add(id, resolve, timer, request, moved);
    try {
      port.postMessage({ id, request });
    } catch (err) {
      // The request could not be cloned: this call fails, the worker is fine.
      this.#pending.settle(id, {
        ok: false,
        error: `route script request not sendable: ${err instanceof Error ? err.message : err}`,
      });
    }
    this.#updateRef();
  }

  #loadFailed(reason: string): void {
    this.#loadError = reason;
    void this.#dropWorker()?.terminate();
    this.#queue.failAll(reason);
    this.#pending.failAll(reason);
    this.#settleStart();
  }

  /** Forgets the current worker (its late events are ignored) and returns it. */
  #dropWorker(): Worker | undefined {
    const w = this.#worker;
    this.#worker = undefined;
    this.#port?.close();
    this.#port = undefined;
    this.#takeArrived = () => {};
    this.#workerReady = false;
    clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    return w;
  }

  /** The worker keeps the process alive only while someone waits for it. */
  #updateRef(): void {
    const w = this.#worker;
    if (!w) return;
    if (!this.#workerReady || this.#pending.size > 0) w.ref();
    else w.unref();
  }

  #settleStart(): void {
    const waiters = this.#startWaiters;
    this.#startWaiters = [];
    for (const r of waiters) r();
  }
}
