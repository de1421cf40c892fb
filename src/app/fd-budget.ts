import type { ListenerConfig, Snapshot } from "../config/types.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import { openFilesLimit } from "../net/fd-limit.ts";
import type { Protocol } from "../protocols/protocol.ts";
import { runsOnEveryThread } from "../protocols/threads.ts";

/**
 * Descriptors the process holds whatever its traffic: stdio, the event loop's, log and admin
 * sockets, health checks, the config watcher. A margin, not a count.
 */
export const BASE_DESCRIPTORS = 64;

/** What the listeners of a snapshot may hold at their caps, in all and per listener. */
export interface DescriptorBudget {
  readonly need: number;
  readonly listeners: Readonly<Record<string, number>>;
}

/**
 * The most descriptors a snapshot's listeners can hold at once, at their caps
 * (`max_connections` and the like, as each protocol counts them), times the threads that run
 * each listener (bounds are per thread), plus BASE_DESCRIPTORS. HAProxy checks its `maxconn`
 * against `ulimit -n` the same way at start.
 */
export function descriptorBudget(
  snapshot: Snapshot,
  protocolNamed: (name: string) => Protocol | undefined,
): DescriptorBudget {
  const listeners: Record<string, number> = {};
  let need = BASE_DESCRIPTORS;
  for (const l of snapshot.listeners) {
    const n = perListener(l, protocolNamed) * (runsOnEveryThread(l) ? snapshot.workers : 1);
    listeners[l.name] = n;
    need += n;
  }
  return { need, listeners };
}

function perListener(l: ListenerConfig, protocolNamed: (name: string) => Protocol | undefined): number {
  return protocolNamed(l.protocol)?.descriptors(l) ?? 1;
}

/**
 * Says (`proxy.descriptors`, a warn line) when the snapshot's listeners may need more
 * descriptors than the process may open: a flood would then meet EMFILE before the caps that
 * answer it cleanly. Returns the budget, or undefined when within the limit or none is known.
 */
export function warnIfOverLimit(
  snapshot: Snapshot,
  protocolNamed: (name: string) => Protocol | undefined,
  events: EventBus<TrunklineEvents>,
  limit: number | undefined = openFilesLimit(),
): DescriptorBudget | undefined {
  if (limit === undefined) return undefined;
  const b = descriptorBudget(snapshot, protocolNamed);
  if (b.need <= limit) return undefined;
  events.emit("proxy.descriptors", { need: b.need, limit, listeners: b.listeners });
  return b;
}
