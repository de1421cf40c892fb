import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import type { ThreadMeshView } from "../../protocols/protocol.ts";
import type { ToWorker } from "./messages.ts";

/** One hand-off between threads: which listener it is for, and what (structured-cloned). */
interface Envelope {
  readonly c: string;
  readonly p: unknown;
}

/**
 * A direct channel from this listener thread to every other one (the main thread is 0):
 * a protocol hands a message to the thread that owns its state (SIP: the thread of its
 * Call-ID) without a detour through the main thread. A peer whose thread died has no port
 * until its successor is connected: `send` says false and the caller handles it itself.
 */
export class ThreadMesh implements ThreadMeshView {
  readonly self: number;
  readonly threads: number;
  readonly #ports = new Map<number, MessagePort>();
  readonly #handlers = new Map<string, (payload: unknown) => void>();

  constructor(self: number, threads: number) {
    this.self = self;
    this.threads = threads;
  }

  /** The port to thread `peer` (a new one replaces the old: the peer was restarted). */
  connect(peer: number, port: MessagePort): void {
    this.#ports.get(peer)?.close();
    this.#ports.set(peer, port);
    // A hand-off for a listener not started yet (or gone) has no handler: dropped.
    port.on("message", (e: Envelope) => this.#handlers.get(e.c)?.(e.p));
    port.on("close", () => {
      if (this.#ports.get(peer) === port) this.#ports.delete(peer);
    });
    // The channels never keep a thread alive on their own: its listeners and parent port do.
    port.unref();
  }

  disconnect(peer: number): void {
    this.#ports.get(peer)?.close();
    this.#ports.delete(peer);
  }

  send(peer: number, channel: string, payload: unknown): boolean {
    const port = this.#ports.get(peer);
    if (!port) return false;
    port.postMessage({ c: channel, p: payload } satisfies Envelope);
    return true;
  }

  on(channel: string, fn: (payload: unknown) => void): () => void {
    this.#handlers.set(channel, fn);
    return () => {
      if (this.#handlers.get(channel) === fn) this.#handlers.delete(channel);
    };
  }

  close(): void {
    for (const p of this.#ports.values()) p.close();
    this.#ports.clear();
  }
}

/**
 * New channels between worker `row` (about to start) and every thread running now: the main
 * thread's end goes into `mesh`, each running worker's end to it in a message; the returned
 * ends go into `row`'s workerData. `workers[i]` is worker i+1's thread, if it has one.
 */
export function meshChannels(
  mesh: ThreadMesh,
  row: number,
  workers: readonly (Worker | undefined)[],
): [number, MessagePort][] {
  const mine: [number, MessagePort][] = [];
  const { port1, port2 } = new MessageChannel();
  mesh.connect(row, port1);
  mine.push([0, port2]);
  workers.forEach((w, i) => {
    const peer = i + 1;
    if (peer === row || !w) return;
    const c = new MessageChannel();
    w.postMessage({ t: "peer", peer: row, port: c.port1 } satisfies ToWorker, [c.port1]);
    mine.push([peer, c.port2]);
  });
  return mine;
}
