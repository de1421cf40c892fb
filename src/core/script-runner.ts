import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/**
 * Runs a user's routing function in a worker thread, so that a throw, a rejected promise,
 * a slow answer or even an endless loop in it costs one session a FAILURE and never the
 * proxy: each call is bounded by a timeout, and a worker that misses one is terminated and
 * started afresh on the next call.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
let fnPromise;
function load() {
  if (!fnPromise) {
    fnPromise = import(workerData.url).then((m) => {
      const fn = workerData.exportName === "default" ? (m.default ?? m.route) : m[workerData.exportName];
      if (typeof fn !== "function") throw new Error("export '" + workerData.exportName + "' of " + workerData.url + " is not a function");
      return fn;
    });
  }
  return fnPromise;
}
parentPort.on("message", async (msg) => {
  try {
    const fn = await load();
    const result = await fn(msg.request);
    parentPort.postMessage({ id: msg.id, result: result === undefined ? null : result });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: String(err && err.stack ? err.message : err) });
  }
});
`;

export type ScriptOutcome = { ok: true; value: unknown } | { ok: false; error: string };

export class ScriptRunner {
  readonly file: string;
  readonly exportName: string;
  readonly timeoutMs: number;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (o: ScriptOutcome) => void; timer: NodeJS.Timeout }>();

  constructor(file: string, exportName: string, timeoutMs: number) {
    this.file = file;
    this.exportName = exportName;
    this.timeoutMs = timeoutMs;
  }

  #spawn(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { url: pathToFileURL(this.file).href, exportName: this.exportName },
      // Route scripts are small: cap their heap so a runaway one cannot eat the proxy's memory.
      resourceLimits: { maxOldGenerationSizeMb: 64 },
      execArgv: [],
    });
    w.unref();
    w.on("message", (msg: { id: number; result?: unknown; error?: string }) => {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg.error !== undefined ? { ok: false, error: msg.error } : { ok: true, value: msg.result });
    });
    const onDead = (reason: string) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      this.#failAll(reason);
    };
    w.on("error", (err) => onDead(`route script crashed: ${err.message}`));
    w.on("exit", (code) => onDead(`route script worker exited with code ${code}`));
    return w;
  }

  #failAll(reason: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.resolve({ ok: false, error: reason });
    }
  }

  call(request: unknown): Promise<ScriptOutcome> {
    this.#worker ??= this.#spawn();
    const worker = this.#worker;
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ ok: false, error: `route script did not answer within ${this.timeoutMs}ms` });
        // It may be stuck in a loop: replace it; the other calls in flight fail too.
        if (this.#worker === worker) {
          this.#worker = undefined;
          this.#failAll("route script restarted after a timeout");
          void worker.terminate();
        }
      }, this.timeoutMs);
      this.#pending.set(id, { resolve, timer });
      worker.postMessage({ id, request });
    });
  }

  async close(): Promise<void> {
    this.#failAll("route script closed");
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
