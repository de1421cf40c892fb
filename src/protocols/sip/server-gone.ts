/**
 * Calls ringing on a server that is gone (health/refusal.ts: its checks refused, nothing
 * listens there) will never be answered: the INVITE transactions waiting on it move on to the
 * next server at once (invite-tx.ts serverGone), rather than ringing until Timer C (181 s).
 */

import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";

/** Calls `fn` with the key of each server found gone on this thread; gives the unsubscribe. */
export function onServerGone(
  events: EventBus<TrunklineEvents>,
  fn: (server: string, reason: string) => void,
): () => void {
  return events.on("server.gone", (g) => fn(g.server, g.reason));
}
