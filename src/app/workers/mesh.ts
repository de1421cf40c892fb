import type { MessagePort } from "node:worker_threads";
import type { ThreadMeshView } from "../../protocols/protocol.ts";

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
  /** Hand-offs that found no handler (a listener not started yet, or gone). */
  unhandled = 0;

  constructor(self: number, threads: number) {
    this.self = self;
    this.threads = threads;
  }

  /** The port to thread `peer` (a new one replaces the old: the peer was restarted). */
  connect(peer: number, port: MessagePort): void {
    this.#ports.get(peer)?.close();
    this.#ports.set(peer, port);
    port.on("message", (e: Envelope) => {
      const h = this.#handlers.get(e.c);
      if (h) h(e.p);
      else this.unhandled++;
    });
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
