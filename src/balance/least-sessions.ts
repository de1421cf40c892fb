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

  order(candidates: readonly S[]): S[] {
    const turn = this.#turn;
    return candidates
      .map((s, i) => ({ s, i, r: ratio(s) }))
      .sort((a, b) => a.r - b.r || rot(a.i, turn, candidates.length) - rot(b.i, turn, candidates.length))
      .map((x) => x.s);
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

function rot(i: number, turn: number, n: number): number {
  return (i - (turn % n) + n) % n;
}
