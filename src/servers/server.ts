import type { HostPort } from "../core/address.ts";
import type { CounterStore } from "./counters.ts";
import type {
  Admin,
  ChangeSink,
  Health,
  Layer,
  LoadReport,
  OperatorOverride,
  ServerChange,
} from "./types.ts";

/**
 * One upstream server, identified by its address: one object for every pool that lists it,
 * outliving generations. Its capacity (`max_sessions`, the session count) and its health
 * are the server's, not a pool's. Its state comes in layers (types.ts `Layer`).
 */
export class ServerEntry {
  readonly key: string;
  readonly address: HostPort;
  readonly slot: number;
  /** False once the registry has dropped it (a pool of an older generation may still name it). */
  registered = true;
  readonly #counters: CounterStore;
  #emit: ChangeSink;

  /** config layer */
  pools: readonly string[] = [];
  maxSessionsConfig = 0;
  /** The configured weight in the first pool that lists it: for weight change lines. */
  firstWeight = 1;

  /** health layer */
  health: Health = "up";
  healthReason = "";
  /** Consecutive results for rise/fall (positive: successes, negative: failures). */
  streak = 0;
  lastProbe: { readonly ok: boolean; readonly at: number; readonly reason: string } | undefined;

  /** esl layer: the last load report and the calls we sent since it came. */
  load: LoadReport | undefined;
  routedSinceReport = 0;
  /** Set while the event socket is down or silent: why, for the logs. */
  eslDown: string | undefined;

  /** passive layer; `downUntil`: skipped until this time (epoch ms) */
  consecutiveConnectFails = 0;
  downUntil = 0;

  /** agent layer: undefined where the agent said nothing (yet). */
  agentAdmin: Admin | undefined;
  /** The agent's NN% of the configured weight. */
  weightPercent = 100;
  /** The agent's maxconn:N, 0 = no cap. */
  agentMaxconn = 0;
  /** Set while the agent says down/fail/stopped: its words, for the logs. */
  agentDown: string | undefined;

  operator: OperatorOverride = { admin: undefined, weight: undefined }; // operator layer

  failures = 0; // failed tries by real sessions, and sessions that came here after one
  failovers = 0;
  /** Told of any change or load report (the main thread mirrors it to workers). */
  onTouched: ((e: ServerEntry) => void) | undefined;
  /** The last change of any layer, for the admin API. */
  lastChange: (ServerChange & { readonly at: number }) | undefined;

  constructor(key: string, address: HostPort, slot: number, counters: CounterStore, emit: ChangeSink) {
    this.key = key;
    this.address = address;
    this.slot = slot;
    this.#counters = counters;
    this.#emit = emit;
  }

  setSink(emit: ChangeSink): void {
    this.#emit = emit;
  }

  /** Sessions on this server now, across every pool and generation. */
  get active(): number {
    return this.#counters.active(this.slot);
  }

  /** Sessions placed here since it was first configured. */
  get total(): number {
    return this.#counters.total(this.slot);
  }

  get admin(): Admin {
    return this.operator.admin ?? this.agentAdmin ?? "ready";
  }

  /** The layer that decides the admin state now. */
  get adminLayer(): Layer {
    return this.operator.admin !== undefined
      ? "operator"
      : this.agentAdmin !== undefined
        ? "agent"
        : "config";
  }

  /** The effective session cap: max_sessions and the agent's maxconn, whichever is lower (0 = none). */
  get maxSessions(): number {
    const a = this.maxSessionsConfig;
    const b = this.agentMaxconn;
    if (a === 0) return b;
    if (b === 0) return a;
    return Math.min(a, b);
  }

  /** A pool member's weight: the operator's, else the configured one scaled by the agent's %. */
  weightFor(configured: number): number {
    if (this.operator.weight !== undefined) return this.operator.weight;
    return Math.min(256, Math.floor((configured * this.weightPercent) / 100));
  }

  /** Up for new sessions as far as health goes (checks, passive, agent). */
  isUp(now: number): boolean {
    return (
      this.health === "up" &&
      this.eslDown === undefined &&
      this.agentDown === undefined &&
      this.downUntil <= now
    );
  }

  /** Admin ready and below its cap, health aside: what "overload is not death" falls back to. */
  canTakeIgnoringHealth(): boolean {
    if (this.admin !== "ready") return false;
    const max = this.maxSessions;
    return max === 0 || this.active < max;
  }

  /** May this server take a new session now? In-flight sessions are never affected. */
  canTake(now: number): boolean {
    return this.isUp(now) && this.canTakeIgnoringHealth();
  }

  /** Whether anything but the config holds this entry (sessions, an operator override). */
  get pinned(): boolean {
    return this.active > 0 || this.operator.admin !== undefined || this.operator.weight !== undefined;
  }

  change(layer: Layer, what: ServerChange["what"], from: string, to: string, reason: string): void {
    if (from !== to) this.#say({ pools: this.pools, server: this.key, layer, what, from, to, reason });
  }

  #say(c: ServerChange): void {
    this.lastChange = { ...c, at: Date.now() };
    this.#emit(c);
    this.onTouched?.(this);
  }

  // health layer

  setHealth(health: Health, reason: string): void {
    const from = this.health;
    this.health = health;
    this.healthReason = reason;
    this.change("health", "health", from, health, reason);
  }

  /** A down server's checks find it gone now (refused, where they timed out): down → down, anew. */
  restateHealth(reason: string): void {
    this.healthReason = reason;
    const c = { pools: this.pools, server: this.key, layer: "health", what: "health", reason } as const;
    this.#say({ ...c, from: "down", to: "down" });
  }

  /**
   * One check result (active probe, or a real session's try): `rise` successes in a row
   * bring a down server up, `fall` failures in a row take an up server down.
   */
  recordCheck(ok: boolean, reason: string, rise: number, fall: number, now = Date.now()): void {
    this.lastProbe = { ok, at: now, reason };
    if (ok) {
      this.streak = this.streak > 0 ? this.streak + 1 : 1;
      if (this.health === "down" && this.streak >= rise) this.setHealth("up", reason);
    } else {
      this.streak = this.streak < 0 ? this.streak - 1 : -1;
      if (this.health === "up" && -this.streak >= fall) this.setHealth("down", reason);
    }
  }

  // esl layer

  /** A new load report: the calls sent since the last one are in its Session-Count now. */
  setLoadReport(r: LoadReport): void {
    this.load = r;
    this.routedSinceReport = 0;
    this.onTouched?.(this);
  }

  /** A session was placed here: counts toward the load until the next report. */
  noteRouted(): void {
    if (this.load !== undefined) this.routedSinceReport++;
  }

  setEslDown(why: string | undefined, reason: string): void {
    const from = this.eslDown === undefined ? "up" : "down";
    this.eslDown = why;
    this.change("esl", "health", from, why === undefined ? "up" : "down", reason);
  }

  /** The event socket is gone from the config: what it said no longer holds. */
  resetLoad(reason: string): void {
    if (this.eslDown !== undefined) this.setEslDown(undefined, reason);
    this.load = undefined;
    this.routedSinceReport = 0;
  }

  // passive layer

  /**
   * A real session's try without active checks: `maxFails` failures in a row take the
   * server out for `failTimeoutMs` (nginx's max_fails/fail_timeout); a success clears it.
   */
  recordPassive(
    ok: boolean,
    reason: string,
    maxFails: number,
    failTimeoutMs: number,
    now = Date.now(),
  ): void {
    if (ok) {
      this.consecutiveConnectFails = 0;
      if (this.downUntil > 0) {
        this.downUntil = 0;
        this.change("passive", "passive", "down", "up", reason);
      }
      return;
    }
    this.consecutiveConnectFails++;
    if (maxFails > 0 && this.consecutiveConnectFails >= maxFails) {
      const wasDown = this.downUntil > now;
      this.downUntil = now + failTimeoutMs;
      if (!wasDown)
        this.change(
          "passive",
          "passive",
          "up",
          "down",
          `${this.consecutiveConnectFails} failures in a row (${reason}); retry in ${failTimeoutMs}ms`,
        );
    }
  }

  // agent layer

  setAgentAdmin(admin: Admin, reason: string): void {
    const from = this.agentAdmin ?? "ready";
    this.agentAdmin = admin;
    this.change("agent", "admin", from, admin, reason);
  }

  setAgentDown(description: string | undefined, reason: string): void {
    const from = this.agentDown === undefined ? "up" : "down";
    this.agentDown = description;
    this.change("agent", "health", from, description === undefined ? "up" : "down", reason);
  }

  setWeightPercent(pct: number, reason: string): void {
    const from = this.weightFor(this.firstWeight);
    this.weightPercent = pct;
    this.change("agent", "weight", String(from), String(this.weightFor(this.firstWeight)), reason);
  }

  setAgentMaxconn(n: number, reason: string): void {
    const from = this.agentMaxconn;
    this.agentMaxconn = n;
    this.change("agent", "maxconn", String(from), String(n), reason);
  }

  /** The checks that fed the health and agent layers are gone: what they said no longer holds. */
  resetChecks(reason: string): void {
    if (this.health !== "up") this.setHealth("up", reason);
    if (this.agentDown !== undefined) this.setAgentDown(undefined, reason);
    if (this.agentAdmin !== undefined && this.agentAdmin !== "ready") this.setAgentAdmin("ready", reason);
    this.agentAdmin = undefined;
    if (this.weightPercent !== 100) this.setWeightPercent(100, reason);
    if (this.agentMaxconn !== 0) this.setAgentMaxconn(0, reason);
    this.streak = 0;
    this.lastProbe = undefined;
  }

  // operator layer

  /** Sets or lifts (undefined) the operator's admin state and weight. */
  setOperator(next: OperatorOverride, reason: string): void {
    const before = this.operator;
    const adminFrom = this.admin;
    const weightFrom = this.weightFor(this.firstWeight);
    this.operator = next;
    if (before.admin !== next.admin) this.change("operator", "admin", adminFrom, this.admin, reason);
    if (before.weight !== next.weight)
      this.change("operator", "weight", String(weightFrom), String(this.weightFor(this.firstWeight)), reason);
  }
}
