import type { Balanceable, Balancer } from "./types.ts";

/**
 * Fewest active sessions relative to weight (HAProxy's leastconn with weights, lb_fwlc.c);
 * servers tied on that ratio take turns, so an idle pool still spreads sessions.
 */
export class LeastSessions<S extends Balanceable> implements Balancer<S> {
  #turn = 0;

  setServers(): void {}

  pick(candidates: readonly S[]): S | undefined {
    const tied = this.#tied(candidates);
    if (tied.length === 0) return undefined;
    const chosen = tied[this.#turn % tied.length];
    this.#turn = (this.#turn + 1) % 1_000_000_007;
    return chosen;
  }

  /**
   * The sequence a session would try: what pick() would take now, then (that server having
   * failed and been released) what the next pick() would take, and so on. The turn advances
   * with each simulated pick exactly as it does with real ones.
   */
  order(candidates: readonly S[]): S[] {
    const left = [...candidates];
    const out: S[] = [];
    let turn = this.#turn;
    while (left.length > 0) {
      const tied = this.#tied(left);
      const chosen = tied[turn % tied.length];
      if (chosen === undefined) break;
      out.push(chosen);
      left.splice(left.indexOf(chosen), 1);
      turn = (turn + 1) % 1_000_000_007;
    }
    return out;
  }

  #tied(candidates: readonly S[]): S[] {
    let best = Number.POSITIVE_INFINITY;
    let tied: S[] = [];
    for (const s of candidates) {
      const r = ratio(s);
      if (r < best) {
        best = r;
        tied = [s];
      } else if (r === best) tied.push(s);
    }
    return tied;
  }
}

function ratio(s: Balanceable): number {
  return s.weight > 0 ? s.active / s.weight : Number.POSITIVE_INFINITY;
}
