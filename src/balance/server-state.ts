import type { ServerConfig } from "../config/types.ts";
import type { Balanceable } from "./types.ts";

export type Health = "up" | "down";
export type Admin = "ready" | "drain" | "maint";

/** A change worth one log line: health, admin state, weight or cap. */
export interface ServerChange {
  readonly pool: string;
  readonly server: string;
  readonly what: "health" | "admin" | "weight" | "maxconn" | "passive";
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

export type ChangeSink = (change: ServerChange) => void;

/**
 * Live state of one server of one pool. It outlives reloads: a new snapshot that keeps the
 * server gets this same object (its `config` replaced), so session counts and health carry
 * over, and sessions of a removed server still release into the object they counted on.
 */
export class ServerState implements Balanceable {
  readonly pool: string;
  readonly key: string;
  config: ServerConfig;
  active = 0;
  /** Sessions placed here since start: for tests, stats and the admin API. */
  total = 0;
  health: Health = "up";
  healthReason = "";
  admin: Admin = "ready";
  /** Agent's NN% of the configured weight (HAProxy caps the result at 256). */
  weightPercent = 100;
  /** Agent's maxconn:N, 0 = no cap. */
  agentMaxconn = 0;
  /** Set while the server's agent says down/fail/stopped: its words, for the logs. */
  agentDown: string | undefined;
  /** Consecutive results for rise/fall (positive: successes, negative: failures). */
  streak = 0;
  consecutiveConnectFails = 0;
  /** Passive health: the server is skipped until this time (epoch ms). */
  downUntil = 0;
  #emit: ChangeSink;

  constructor(pool: string, config: ServerConfig, emit: ChangeSink) {
    this.pool = pool;
    this.key = config.key;
    this.config = config;
    this.#emit = emit;
  }

  setSink(emit: ChangeSink): void {
    this.#emit = emit;
  }

  get weight(): number {
    return Math.min(256, Math.floor((this.config.weight * this.weightPercent) / 100));
  }

  /** The effective session cap: max_sessions and the agent's maxconn, whichever is lower (0 = none). */
  get maxSessions(): number {
    const a = this.config.maxSessions;
    const b = this.agentMaxconn;
    if (a === 0) return b;
    if (b === 0) return a;
    return Math.min(a, b);
  }

  /** May this server take a new session now? (In-flight sessions are never affected.) */
  canTake(now: number): boolean {
    if (this.admin !== "ready" || this.health !== "up" || this.agentDown !== undefined) return false;
    if (this.downUntil > now) return false;
    const max = this.maxSessions;
    if (max > 0 && this.active >= max) return false;
    return this.weight > 0;
  }

  change(what: ServerChange["what"], from: string, to: string, reason: string): void {
    if (from === to) return;
    this.#emit({ pool: this.pool, server: this.key, what, from, to, reason });
  }

  setHealth(health: Health, reason: string): void {
    const from = this.health;
    this.health = health;
    this.healthReason = reason;
    this.change("health", from, health, reason);
  }

  /** The agent said down/fail/stopped (a description), or up (undefined). */
  setAgentDown(description: string | undefined, reason: string): void {
    const from = this.agentDown === undefined ? "up" : "down";
    this.agentDown = description;
    this.change("health", from, description === undefined ? "up" : "down", reason);
  }

  setAdmin(admin: Admin, reason: string): void {
    const from = this.admin;
    this.admin = admin;
    this.change("admin", from, admin, reason);
  }

  setWeightPercent(pct: number, reason: string): void {
    const from = this.weight;
    this.weightPercent = pct;
    this.change("weight", String(from), String(this.weight), reason);
  }

  setAgentMaxconn(n: number, reason: string): void {
    const from = this.agentMaxconn;
    this.agentMaxconn = n;
    this.change("maxconn", String(from), String(n), reason);
  }

  /**
   * One check result (active probe, or a real session's connect): `rise` successes in a row
   * bring a down server up, `fall` failures in a row take an up server down.
   */
  recordCheck(ok: boolean, reason: string, rise: number, fall: number): void {
    if (ok) {
      this.streak = this.streak > 0 ? this.streak + 1 : 1;
      if (this.health === "down" && this.streak >= rise) this.setHealth("up", reason);
    } else {
      this.streak = this.streak < 0 ? this.streak - 1 : -1;
      if (this.health === "up" && -this.streak >= fall) this.setHealth("down", reason);
    }
  }
}
