import type { RawSource } from "../../config/providers/types.ts";
import type { Snapshot } from "../../config/types.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import type { ServerRegistry } from "../../servers/registry.ts";
import type { SharedCounterMemory, SharedSlotCounters } from "../../servers/shared-counters.ts";
import type { ThreadMesh } from "./mesh.ts";

/** One listener thread as the admin API and the metrics show it (0 is the main thread). */
export interface WorkerView {
  readonly worker: number;
  readonly threadId: number | undefined;
  readonly alive: boolean;
  /** Sessions it holds now, and has started since the proxy started. */
  readonly sessions: number;
  readonly started: number;
  readonly restarts: number;
}

export interface WorkerSetOptions {
  /** Threads running listeners, the main thread included: N-1 workers are started. */
  readonly threads: number;
  readonly mem: SharedCounterMemory;
  readonly counters: SharedSlotCounters;
  readonly registry: ServerRegistry;
  readonly events: EventBus<TrunklineEvents>;
  /** The config running when the workers start, as read and as validated (reloads pass theirs). */
  readonly first: { readonly raw: RawSource; readonly snapshot: Snapshot };
  /** Ports the main thread's listeners got, by name (for listeners configured on port 0). */
  readonly ports: () => [string, number][];
  /** The main thread's channels to the workers. */
  readonly mesh: ThreadMesh;
}
