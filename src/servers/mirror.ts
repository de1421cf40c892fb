import { isRefusal } from "../health/refusal.ts";
import type { ServerEntry } from "./server.ts";
import type { Admin, Health, LoadReport, OperatorOverride } from "./types.ts";

/**
 * What the main thread decides about a server and worker threads must see: health checks,
 * the event socket, the agent and the operator. Counts are shared memory; the config layer
 * each thread derives from the same snapshot; passive health stays each thread's own.
 */
export interface EntryState {
  readonly key: string;
  readonly health: Health;
  readonly healthReason: string;
  readonly eslDown: string | undefined;
  readonly load: LoadReport | undefined;
  readonly agentAdmin: Admin | undefined;
  readonly weightPercent: number;
  readonly agentMaxconn: number;
  readonly agentDown: string | undefined;
  readonly operator: OperatorOverride;
  /** Passive health: out until then (epoch ms), as the main thread judged every thread's tries. */
  readonly downUntil: number;
}

export function entryState(e: ServerEntry): EntryState {
  return {
    key: e.key,
    health: e.health,
    healthReason: e.healthReason,
    eslDown: e.eslDown,
    load: e.load,
    agentAdmin: e.agentAdmin,
    weightPercent: e.weightPercent,
    agentMaxconn: e.agentMaxconn,
    agentDown: e.agentDown,
    operator: e.operator,
    downUntil: e.downUntil,
  };
}

/**
 * Takes the main thread's state, silently: the main thread has logged the change already.
 * True when it takes the server's health down by refusal, or a down one's reason becomes a
 * refusal (restateHealth): the thread's `server.gone`.
 */
export function applyEntryState(e: ServerEntry, s: EntryState): boolean {
  // Taken down by refusal, or down already and refused now (restateHealth): once per death.
  const gone =
    s.health === "down" && isRefusal(s.healthReason) && !(e.health === "down" && isRefusal(e.healthReason));
  e.health = s.health;
  e.healthReason = s.healthReason;
  e.eslDown = s.eslDown;
  if (s.load?.at !== e.load?.at) {
    e.load = s.load;
    e.routedSinceReport = 0;
  }
  e.agentAdmin = s.agentAdmin;
  e.weightPercent = s.weightPercent;
  e.agentMaxconn = s.agentMaxconn;
  e.agentDown = s.agentDown;
  e.operator = s.operator;
  e.downUntil = s.downUntil;
  return gone;
}
