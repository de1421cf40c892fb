import type { Socket } from "node:net";

/** What a refused Asterisk reads: AGISTATUS=FAILURE in the dialplan (res_agi.c). */
export const FAILURE = Buffer.from("FAILURE\n");

/**
 * Bound on the flush of a refusal. Eight bytes leave at once unless the peer's receive window
 * is shut; a peer that does not read is not waited for past it.
 */
export const REFUSAL_FLUSH_MS = 250;

/**
 * Answers FAILURE and closes the socket as soon as the line and our FIN are with the kernel,
 * which still delivers them after the close. Waiting for the peer's own close (the listener
 * keeps sockets half-open) would hold the descriptor, and a session's max_connections slot,
 * for as long as the peer pleases. What the peer sends meanwhile is read and dropped: bytes
 * left unread at close would turn it into a reset. Returns the bytes written.
 */
export function refuseWithFailure(sock: Socket, boundMs = REFUSAL_FLUSH_MS): number {
  if (sock.destroyed || !sock.writable) {
    sock.destroy();
    return 0;
  }
  const timer = setTimeout(() => sock.destroy(), boundMs);
  timer.unref();
  sock.once("close", () => clearTimeout(timer));
  sock.resume();
  // end()'s callback runs at 'finish' (or with the error that prevented it).
  sock.end(FAILURE, () => sock.destroy());
  return FAILURE.length;
}
