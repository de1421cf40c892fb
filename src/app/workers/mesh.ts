import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import type { HandOff, ThreadMeshView } from "../../protocols/protocol.ts";
import type { ToWorker } from "./messages.ts";

/** One hand-off between threads: which listener it is for, and what (structured-cloned). */
interface Envelope {
  readonly c: string;
  readonly p: unknown;
}

/**
 * Hand-offs to one thread not yet taken by it. A MessagePort queues without bound: a flood
 * of datagrams whose Call-IDs another thread owns would pile up in that thread's queue, in
 * memory, as fast as this one can parse them (parsing is cheaper than proxying). At the bound
 * a hand-off is refused and the caller drops the message, as the kernel drops datagrams for
 * a full socket buffer; UDP senders retransmit. About 3 KB each: some 12 MB per thread.
 */
export const MAX_IN_FLIGHT = 4_096;
/** The channel of the taker's acknowledgements (one per turn of its event loop, with a count). */
const ACK = "\0ack";

/**
 * A direct channel from this listener thread to every other one (the main thread is 0):
 * a protocol hands a message to the thread that owns its state (SIP: the thread of its
 * Call-ID) without a detour through the main thread. A peer whose thread died has no port
 * until its successor is connected: `send` says "gone" and the caller handles it itself.
 *
 * Hand-offs to one peer wait for the end of this turn of the event loop (setImmediate runs
 * right after the poll phase) and go as one message: each postMessage costs a serialization
 * and a wake-up of the other thread, about 10 µs of CPU for a small one here, and under load
 * a turn hands over several datagrams at once. Order per peer is kept.
 */
export class ThreadMesh implements ThreadMeshView {
  readonly self: number;
  readonly threads: number;
  readonly #ports = new Map<number, MessagePort>();
  readonly #handlers = new Map<string, (payload: unknown) => void>();
  /** By peer: hand-offs sent (or waiting for this turn's end) and not yet acknowledged. */
  readonly #inFlight = new Map<number, number>();
  /** By peer: this turn's hand-offs, posted together at its end. */
  readonly #batches = new Map<number, Envelope[]>();
  #scheduled = false;

  constructor(self: number, threads: number) {
    this.self = self;
    this.threads = threads;
  }

  /** The port to thread `peer` (a new one replaces the old: the peer was restarted). */
  connect(peer: number, port: MessagePort): void {
    this.#ports.get(peer)?.close();
    this.#ports.set(peer, port);
    this.#inFlight.set(peer, 0);
    this.#batches.delete(peer);
    let taken = 0;
    const ack = (): void => {
      if (taken === 0) return;
      port.postMessage({ c: ACK, p: taken } satisfies Envelope);
      taken = 0;
    };
    const take = (e: Envelope): void => {
      // Acknowledged once per turn: what this turn took, in one message back.
      if (taken++ === 0) setImmediate(ack);
      // A hand-off for a listener not started yet (or gone) has no handler: dropped.
      this.#handlers.get(e.c)?.(e.p);
    };
    port.on("message", (e: Envelope | Envelope[]) => {
      if (Array.isArray(e)) {
        for (const one of e) take(one);
        return;
      }
      if (e.c === ACK) {
        if (this.#ports.get(peer) === port)
          this.#inFlight.set(peer, Math.max(0, (this.#inFlight.get(peer) ?? 0) - (e.p as number)));
        return;
      }
      take(e);
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
    this.#inFlight.delete(peer);
    this.#batches.delete(peer);
  }

  send(peer: number, channel: string, payload: unknown): HandOff {
    if (!this.#ports.has(peer)) return "gone";
    const n = this.#inFlight.get(peer) ?? 0;
    if (n >= MAX_IN_FLIGHT) return "full";
    this.#inFlight.set(peer, n + 1);
    const batch = this.#batches.get(peer);
    if (batch === undefined) this.#batches.set(peer, [{ c: channel, p: payload }]);
    else batch.push({ c: channel, p: payload });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return "sent";
  }

  /**
   * Posts each peer's batch: one message for the turn (a lone hand-off as itself). A batch
   * that cannot be posted is taken back off the count, and the others still go.
   */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const all = [...this.#batches];
    this.#batches.clear();
    for (const [peer, batch] of all) {
      // A peer disconnected in this turn took its batch with it (disconnect, connect).
      const port = this.#ports.get(peer);
      if (port === undefined) continue;
      try {
        port.postMessage(batch.length === 1 ? batch[0] : batch);
      } catch {
        this.#inFlight.set(peer, Math.max(0, (this.#inFlight.get(peer) ?? 0) - batch.length));
      }
    }
  };

  /** Hand-offs to `peer` not yet taken (tests, and the bound above). */
  inFlight(peer: number): number {
    return this.#inFlight.get(peer) ?? 0;
  }

  on(channel: string, fn: (payload: unknown) => void): () => void {
    this.#handlers.set(channel, fn);
    return () => {
      if (this.#handlers.get(channel) === fn) this.#handlers.delete(channel);
    };
  }

  /** This turn's hand-offs still go, then the channels close. */
  close(): void {
    this.#flush();
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
