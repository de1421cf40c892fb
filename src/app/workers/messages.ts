import type { MessagePort } from "node:worker_threads";
import type { RawSource } from "../../config/providers/types.ts";
import type { TransportRow } from "../../observe/metrics-transports.ts";
import type { EntryState } from "../../servers/mirror.ts";
import type { OutcomeReport } from "../../servers/outcome.ts";
import type { SharedCounterMemory } from "../../servers/shared-counters.ts";

/** What a worker thread is started with. */
export interface WorkerData {
  readonly mem: SharedCounterMemory;
  /** Its row in the shared counters, 1..N-1 (the main thread is 0). */
  readonly row: number;
  readonly threads: number;
  /** The events the main thread listens to (of FORWARDED_EVENTS): only these are sent. */
  readonly forward: readonly string[];
  /** Its channels to the threads already running: [thread, port]. */
  readonly peers: readonly (readonly [number, MessagePort])[];
}

/** The main thread to a worker. Requests carry an id; the worker answers each with a reply. */
export type ToWorker =
  | {
      readonly t: "prepare";
      readonly id: number;
      /** The config as read: the worker validates it itself and must reach the same digest. */
      readonly raw: RawSource;
      readonly digest: string;
      /** Listeners configured on port 0: the port the main thread got, so all share it. */
      readonly ports: readonly (readonly [string, number])[];
    }
  | {
      readonly t: "commit";
      readonly id: number;
      readonly slots: readonly (readonly [string, number])[];
      readonly states: readonly EntryState[];
    }
  | { readonly t: "abort"; readonly id: number }
  /** Answered at once: every message sent before it has been read. */
  | { readonly t: "sync"; readonly id: number }
  | { readonly t: "state"; readonly states: readonly EntryState[] }
  | { readonly t: "drain"; readonly id: number; readonly deadline: number }
  | { readonly t: "close"; readonly id: number }
  /** A channel to thread `peer` (started, or restarted: it replaces the old one). */
  | { readonly t: "peer"; readonly peer: number; readonly port: MessagePort };

/** A worker to the main thread: answers, and its events in batches. */
export type FromWorker =
  | { readonly t: "reply"; readonly id: number; readonly error?: string }
  | { readonly t: "events"; readonly batch: readonly (readonly [string, unknown])[] }
  /** A real session's try of a server (passive health): the main thread judges it. */
  | { readonly t: "outcome"; readonly key: string; readonly r: OutcomeReport }
  /** Its listeners' transports (SIP over UDP), every TRANSPORTS_EVERY_MS and at close. */
  | { readonly t: "transports"; readonly rows: readonly TransportRow[] };

/** How often a worker reports its transports' counters: /metrics may lag them by this much. */
export const TRANSPORTS_EVERY_MS = 1_000;

/** The events a worker's listeners publish; the main thread re-publishes them for logs and metrics. */
export const FORWARDED_EVENTS = [
  "session.start",
  "session.end",
  "attempt.failed",
  "server.state",
  "listener.listening",
  "listener.error",
  "listener.tls_reloaded",
  "sip.dropped",
  "sip.overload",
  "http.wake",
] as const;
