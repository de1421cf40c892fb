/**
 * Writes held until the event loop has handled the whole batch of I/O events it woke for
 * (setImmediate runs right after the poll phase), then let go together, one write(2) per
 * socket.
 *
 * Why: a write to a loopback or LAN peer that sleeps pays for waking it, inside our
 * write(2). Written as each event is handled, with our JS between two writes, the peers
 * (the client's load, the server) often fell asleep again in between, so nearly every write
 * woke one. Let go in a burst, the first write wakes a peer and the next ones find it
 * running. Measured on the HTTP bench (wrk, 32 connections, nginx origin, interleaved
 * rounds): 17.6k → 22.3k requests/s, 57.2 → 44.5 µs of CPU per request, 28.0 → 17.8 µs of
 * it in the kernel.
 *
 * Order on a socket is kept (held bytes wait in the socket's own buffer); end() lets them go
 * at once (Node uncorks on end). destroy() would drop them: flushAndDestroy() lets them go
 * first. A caller that must know its bytes reached the kernel waits with whenFlushed().
 */

import type { Socket } from "node:net";

const held: Socket[] = [];
const after: Array<() => void> = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const n = held.length;
  for (let i = 0; i < n; i++) letGo(held[i] as Socket);
  held.length = 0;
  if (after.length === 0) return;
  const fns = after.splice(0);
  // One callback that throws must not strand the others (their answers would never finish).
  let failure: { err: unknown } | undefined;
  for (const fn of fns) {
    try {
      fn();
    } catch (err) {
      failure ??= { err };
    }
  }
  if (failure) throw failure.err;
}

/** Uncorks our one cork; a socket that end() already uncorked, or a destroyed one, stays as it is. */
function letGo(sock: Socket): void {
  if (sock.writableCorked > 0 && !sock.destroyed) sock.uncork();
}

function hold(sock: Socket): void {
  if (sock.writableCorked > 0) return;
  sock.cork();
  held.push(sock);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** socket.write(data), held until the end of this batch of events. */
export function batchedWrite(sock: Socket, data: Buffer | string, encoding?: BufferEncoding): boolean {
  hold(sock);
  return encoding === undefined ? sock.write(data) : sock.write(data, encoding);
}

/** Whether bytes of this socket are held (corked) and not yet handed to the kernel. */
export function isHeld(sock: Socket): boolean {
  return sock.writableCorked > 0;
}

/** Runs fn once the held writes of this batch have been let go (at once if none is held). */
export function whenFlushed(fn: () => void): void {
  if (!scheduled) fn();
  else after.push(fn);
}

/**
 * socket.destroy(), after handing its held bytes to the kernel: what was written before the
 * destroy leaves, as it did when each write went through at once.
 */
export function flushAndDestroy(sock: Socket): void {
  letGo(sock);
  sock.destroy();
}
