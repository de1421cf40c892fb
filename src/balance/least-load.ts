import { LeastSessions } from "./least-sessions.ts";
import { type LoadScore, pickLeastLoaded } from "./load-score.ts";
import type { Balanceable, Balancer } from "./types.ts";

/**
 * Highest heartbeat load score (load-score.ts), for FreeSWITCH pools. The scores come from
 * outside (`scoreOf` reads the server's last heartbeat, the calls sent since and the clock),
 * so this class holds no load state of its own; when a score is unknown it defers to
 * least-sessions, whose rotation it keeps. What `balance: least-sessions` becomes in SIP pools.
 */
export class LeastLoad<S extends Balanceable> implements Balancer<S> {
  readonly #scoreOf: (server: S) => LoadScore;
  readonly #fallback = new LeastSessions<S>();

  constructor(scoreOf: (server: S) => LoadScore) {
    this.#scoreOf = scoreOf;
  }

  setServers(): void {}

  pick(candidates: readonly S[]): S | undefined {
    const p = pickLeastLoaded(candidates, this.#scoreOf);
    if (p.by === "unknown") return this.#fallback.pick(p.usable);
    return p.by === "none" ? undefined : p.server;
  }

  /**
   * The sequence a call would try with the scores as they are now. (The real sequence can
   * differ: each try adds a call to its server's count since the heartbeat.)
   */
  order(candidates: readonly S[]): S[] {
    const left = [...candidates];
    const out: S[] = [];
    while (left.length > 0) {
      const p = pickLeastLoaded(left, this.#scoreOf);
      if (p.by === "unknown") return [...out, ...this.#fallback.order(p.usable)];
      if (p.by === "none") break;
      out.push(p.server);
      left.splice(left.indexOf(p.server), 1);
    }
    return out;
  }
}
