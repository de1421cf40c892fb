import type { Socket } from "node:net";

/** One buffer that every plain upstream socket of the process reads into (Node's `onread`). */
const READ_BUFFER_BYTES = 64 * 1024;
/** Bytes a server may send before anyone reads them (a banner before the header): then reading pauses. */
const EARLY_MAX = 64 * 1024;

let shared: Buffer | undefined;

/**
 * The buffer of Node's `onread` option, shared by every socket: a read lands in it and is
 * handed on at once, so it is never read twice nor held. With it a read costs one copy of
 * the bytes read, where a 'data' event costs a fresh 64 KiB allocation shrunk to size, an
 * ArrayBuffer, and the Readable stream's push and emit.
 */
export function readBuffer(): Buffer {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  return shared;
}

/** Takes the bytes read; it pauses the socket itself when it cannot take more (backpressure). */
export type ReadSink = (chunk: Buffer) => void;

/**
 * Where an upstream socket's bytes go. The socket exists (connected, in a pool's attempt)
 * before the relay that reads it: what arrives before attach() is kept, up to EARLY_MAX.
 * (The relay attaches in the same tick as the connect completes, so in practice nothing
 * comes early.) Every chunk handed on is the reader's own (a copy out of the shared buffer,
 * from the small-buffer pool), so it may be held or written as any 'data' chunk.
 */
export class ReadTap {
  #sink: ReadSink | undefined;
  #early: Buffer[] | undefined;
  #earlyBytes = 0;
  #pausedEarly = false;

  /** For `onread.callback`: `nread` bytes at the start of the shared buffer. */
  readonly onread = (nread: number, buf: Uint8Array): boolean => {
    const chunk = Buffer.allocUnsafe(nread);
    chunk.set(nread === buf.length ? buf : buf.subarray(0, nread));
    return this.deliver(chunk);
  };

  /**
   * For a socket read through 'data' events (TLS): the chunk is already its own. False when
   * reading must pause (too much came before attach()).
   */
  readonly deliver = (chunk: Buffer): boolean => {
    const sink = this.#sink;
    if (sink) {
      sink(chunk);
      return true;
    }
    this.#early ??= [];
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes < EARLY_MAX) return true;
    this.#pausedEarly = true;
    return false;
  };

  /** From now on the bytes go to `sink`, the ones that came before first. */
  attach(sink: ReadSink, socket: Socket): void {
    this.#sink = sink;
    const early = this.#early;
    if (!early) return;
    this.#early = undefined;
    for (const c of early) sink(c);
    // Reading paused for want of a reader: the sink pauses again if it must.
    if (this.#pausedEarly && !socket.destroyed) socket.resume();
  }
}
