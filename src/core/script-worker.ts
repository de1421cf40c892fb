import { pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";

/**
 * The worker thread's program, run with `eval: true` so that no separate file has to be
 * found next to the built code. It imports the route module and resolves the export before
 * it says `ready`, then answers each `{ id, request }` on the channel in workerData.port
 * with `{ id, result }` or `{ id, error }`. A module that cannot be loaded, or lacks the
 * export, is reported once as `{ loadError }`.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const port = workerData.port;
let fn;
port.on("message", async (msg) => {
  try {
    const result = await fn(msg.request);
    port.postMessage({ id: msg.id, result: result === undefined ? null : result });
  } catch (err) {
    port.postMessage({ id: msg.id, error: String(err && err.stack ? err.message : err) });
  }
});
import(workerData.url).then(
  (m) => {
    const f = workerData.exportName === "default" ? (m.default ?? m.route) : m[workerData.exportName];
    if (typeof f !== "function") {
      port.postMessage({
        loadError: "route script " + workerData.file + " does not export a function named '" + workerData.exportName + "'",
      });
      return;
    }
    fn = f;
    port.postMessage({ ready: true });
  },
  (err) => {
    port.postMessage({
      loadError: "route script " + workerData.file + " failed to load: " + String(err && err.stack ? err.message : err),
    });
  },
);
`;

/** What WORKER_SOURCE posts back to the runner. */
export type WorkerMessage =
  | { ready: true }
  | { loadError: string }
  | { id: number; result?: unknown; error?: string };

/**
 * Starts a worker for `exportName` of `file`; throws when the thread cannot be created.
 * Answers come over a channel of our own rather than the worker's built-in port, so a
 * timer can take an answer that already arrived (see ScriptRunner's #dispatch) with
 * receiveMessageOnPort.
 */
export function startWorker(file: string, exportName: string): { worker: Worker; port: MessagePort } {
  const { port1: port, port2 } = new MessageChannel();
  try {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        url: pathToFileURL(file).href,
        file,
        exportName,
        port: port2,
      },
      transferList: [port2],
      // Route scripts are small: cap their heap so a runaway one cannot eat the proxy's memory.
      resourceLimits: { maxOldGenerationSizeMb: 64 },
      execArgv: [],
    });
    return { worker, port };
  } catch (err) {
    port.close();
    throw err;
  }
}
