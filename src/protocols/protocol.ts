import type { Pool } from "../balance/pool.ts";
import type { ProtocolConfigSpec } from "../config/spec.ts";
import type { ListenerConfig, RouteConfig, Snapshot } from "../config/types.ts";
import type { GateView } from "../core/gate.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { SessionInfo } from "../net/stream-listener.ts";

/** A protocol's routes for one generation (a route table, script workers): closed when unused. */
export interface ProtocolRoutes {
  /** How long, once replaced, it may still serve calls that started before (ms). */
  readonly lingerMs: number;
  close(): Promise<void>;
}

/** One generation as protocols see it: the snapshot, its pools and each protocol's routes. */
export interface GenerationView {
  readonly number: number;
  readonly snapshot: Snapshot;
  readonly pools: ReadonlyMap<string, Pool>;
  routes(protocol: string): ProtocolRoutes | undefined;
}

/** What the application gives every listener it builds. */
export interface ListenerContext {
  readonly events: EventBus<TrunklineEvents>;
  /** The generation now; a session captures it when it routes, and keeps it. */
  current(): GenerationView;
  /** Bind with SO_REUSEPORT (where Node has it), so `run --takeover` can bind beside us. */
  readonly reusePort: boolean;
  /**
   * Share a port the kernel chooses (`:0`) too: worker threads bind the port the main
   * thread got. Off elsewhere (nobody can take over a port they cannot name).
   */
  readonly sharePortZero?: boolean;
  /** The other listener threads (`workers:` above 1), for hand-offs; absent with one thread. */
  readonly mesh?: ThreadMeshView;
  /**
   * Opens when the reload that bound this listener is committed: a session accepted before
   * waits for it before it routes (`current()` may not know this listener yet).
   */
  readonly gate?: GateView;
}

/**
 * What a hand-off to another thread came to: `sent`; `gone`, that thread is being restarted
 * (the caller handles the message itself); `full`, that thread has not taken the last
 * MAX_IN_FLIGHT hand-offs yet (the caller drops the message, as the kernel drops a datagram
 * when a socket's buffer is full).
 */
export type HandOff = "sent" | "gone" | "full";

/**
 * Channels to the other threads that run listeners: a listener hands a message to the thread
 * that owns its state.
 */
export interface ThreadMeshView {
  /** This thread (0: the main thread) and how many there are. */
  readonly self: number;
  readonly threads: number;
  send(thread: number, channel: string, payload: unknown): HandOff;
  /** Takes what other threads hand this one on `channel`; returns the unsubscribe. */
  on(channel: string, fn: (payload: unknown) => void): () => void;
}

/** Every listener: start, drain with a deadline, close, plus hand-over. */
export interface ProtocolListener {
  readonly config: ListenerConfig;
  readonly sessions: number;
  /** The sessions in flight, newest first, at most `limit`. */
  sessionsInfo(limit: number): SessionInfo[];
  /** Connections still in their handshake or protocol opening. */
  readonly pending: number;
  readonly address: { host: string; port: number } | undefined;
  start(): Promise<void>;
  /** A config with the same binding: applied to new sessions, without rebinding. */
  update(config: ListenerConfig): void;
  /** Closes the listening socket only, so a successor can bind the address. */
  release(): Promise<void>;
  /** Takes the address back after a failed hand-over. */
  rebind(): Promise<void>;
  drain(deadline: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A protocol: its config section (ProtocolConfigSpec), its routes and its listeners. A new
 * protocol is a folder under protocols/ and a line in registry.ts.
 */
export interface Protocol extends ProtocolConfigSpec {
  /** Whether a listener's new config can keep its socket (else it is handed over). */
  sameBinding(a: ListenerConfig, b: ListenerConfig): boolean;
  /** Builds the routes of this protocol for a generation; `previous` lets it reuse workers. */
  buildRoutes(
    routes: readonly RouteConfig[],
    hasPool: (name: string) => boolean,
    previous: ProtocolRoutes | undefined,
  ): ProtocolRoutes;
  createListener(config: ListenerConfig, ctx: ListenerContext): ProtocolListener;
  /**
   * The most descriptors one listener can hold at its caps (its listening sockets, and per
   * connection its client's and its server's), for the check against `ulimit -n`.
   */
  descriptors(config: ListenerConfig): number;
  /** A route in words, for the admin API and dashboard: what it matches, what it does. */
  describeRoute(route: RouteConfig): { readonly match: string; readonly action: string };
}
