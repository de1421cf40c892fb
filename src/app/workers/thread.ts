/**
 * A worker thread (`workers:` above 1): runs the config's FastAGI and HTTP listeners beside
 * the main thread's, on the same addresses (SO_REUSEPORT: the kernel spreads connections),
 * with session counts in shared memory. It owns nothing that is one per process: the main
 * thread reads the config, checks health, runs the admin API and writes the logs, and tells
 * this thread each config (two phases) and each server state change.
 */
import { parentPort, workerData } from "node:worker_threads";
import { parseMerged } from "../../config/load.ts";
import type { Snapshot } from "../../config/types.ts";
import { errorMessage, TrunklineError } from "../../core/errors.ts";
import { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import type { TransportRow, TransportsListener } from "../../observe/metrics-transports.ts";
import { PROTOCOLS } from "../../protocols/registry.ts";
import { runsOnEveryThread } from "../../protocols/threads.ts";
import { applyEntryState, type EntryState } from "../../servers/mirror.ts";
import { SharedSlotCounters } from "../../servers/shared-counters.ts";
import { type PreparedReload, Runtime } from "../runtime.ts";
import { ThreadMesh } from "./mesh.ts";
import {
  FORWARDED_EVENTS,
  type FromWorker,
  type ToWorker,
  TRANSPORTS_EVERY_MS,
  type WorkerData,
} from "./messages.ts";

const port = parentPort;
if (!port) throw new Error("thread.ts runs as a worker thread only");
const data = workerData as WorkerData;
const events = new EventBus<TrunklineEvents>();
const counters = new SharedSlotCounters(data.mem, data.row, false);
const mesh = new ThreadMesh(data.row, data.threads);
for (const [peer, p] of data.peers) mesh.connect(peer, p);
// SIP over TCP or TLS stays on the main thread (a dialog's connections would be spread over
// threads); SIP over UDP runs everywhere, each message handed to its Call-ID's thread.
// No SIP warm-up here: a worker starts (or restarts) while the main thread already serves,
// and the hand-offs to it would wait the warm-up out (app/sip-warm-up.ts).
const runtime = new Runtime(events, { counters, mesh, runs: runsOnEveryThread });
let prepared: PreparedReload | undefined;
runtime.registry.sendOutcomes((key, r) => port.postMessage({ t: "outcome", key, r } satisfies FromWorker));

const send = (m: FromWorker): void => port.postMessage(m);

// Events leave in batches, one message per turn of the event loop.
let batch: [string, unknown][] = [];
const flush = (): void => {
  const b = batch;
  batch = [];
  send({ t: "events", batch: b });
};
for (const name of FORWARDED_EVENTS.filter((n) => data.forward.includes(n))) {
  events.on(name, (payload) => {
    if (batch.length === 0) setImmediate(flush);
    batch.push([name, payload]);
  });
}

/** Whether the last report had rows (an empty one follows, once, when they go). */
let reported = false;
/** This thread's transports (SIP over UDP), for the main thread's /metrics; nothing when it has none. */
function reportTransports(): void {
  const rows: TransportRow[] = [];
  const listeners: Iterable<TransportsListener> = runtime.allListeners();
  for (const l of listeners)
    for (const t of l.transports?.views() ?? []) rows.push({ listener: l.config.name, ...t });
  if (rows.length > 0 || reported) send({ t: "transports", rows });
  reported = rows.length > 0;
}
setInterval(reportTransports, TRANSPORTS_EVERY_MS).unref();

/** The config as the main thread bound it: port 0 means the port the main thread got. */
function withPorts(s: Snapshot, ports: readonly (readonly [string, number])[]): Snapshot {
  if (ports.length === 0) return s;
  const byName = new Map(ports);
  return {
    ...s,
    listeners: s.listeners.map((l) => {
      const p = byName.get(l.name);
      return p !== undefined && l.listen.port === 0 ? { ...l, listen: { ...l.listen, port: p } } : l;
    }),
  };
}

function applyStates(states: readonly EntryState[]): void {
  for (const st of states) {
    const e = runtime.registry.get(st.key);
    if (e && applyEntryState(e, st))
      runtime.events.emit("server.gone", { server: e.key, reason: e.healthReason });
  }
}

async function handle(m: Exclude<ToWorker, { t: "peer" }>): Promise<string | undefined> {
  switch (m.t) {
    case "prepare": {
      const parsed = parseMerged(m.raw.text, m.raw.origin, PROTOCOLS, m.raw.overlay).snapshot;
      if (parsed.digest !== m.digest)
        return "the config changed between the main thread's read and this one's";
      const p = await runtime.prepare(withPorts(parsed, m.ports));
      if (p instanceof TrunklineError) return p.message;
      prepared = p;
      return undefined;
    }
    case "commit": {
      if (!prepared) return "commit without prepare";
      counters.assign(m.slots);
      runtime.commit(prepared);
      prepared = undefined;
      applyStates(m.states);
      return undefined;
    }
    case "abort":
      if (prepared) await runtime.abort(prepared);
      prepared = undefined;
      return undefined;
    case "state":
      applyStates(m.states);
      return undefined;
    case "sync":
      return undefined;
    case "drain":
      await runtime.drain(m.deadline);
      return undefined;
    case "close":
      await runtime.close();
      reportTransports();
      mesh.close();
      if (batch.length > 0) flush();
      return undefined;
  }
}

port.on("message", (m: ToWorker) => {
  if (m.t === "peer") {
    mesh.connect(m.peer, m.port);
    return;
  }
  void handle(m).then(
    (error) => {
      if (m.t === "state") return;
      send(error === undefined ? { t: "reply", id: m.id } : { t: "reply", id: m.id, error });
      if (m.t === "close") port.close();
    },
    (err: unknown) => {
      if (m.t !== "state") send({ t: "reply", id: m.id, error: errorMessage(err) });
    },
  );
});
