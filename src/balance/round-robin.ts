import type { Balanceable, Balancer } from "./types.ts";

/**
 * Smooth weighted round robin (nginx's ngx_http_upstream_get_peer): every pick adds each
 * candidate's weight to its current score, takes the highest, and subtracts the total from
 * it, so weights 5:1:1 give a,a,b,a,c,a,a rather than a burst of five.
 */
export class RoundRobin<S extends Balanceable> implements Balancer<S> {
  #current = new Map<string, number>();

  setServers(all: readonly S[]): void {
    const keep = new Map<string, number>();
    for (const s of all) keep.set(s.key, this.#current.get(s.key) ?? 0);
    this.#current = keep;
  }

  pick(candidates: readonly S[]): S | undefined {
    return step(candidates, this.#current);
  }

  order(candidates: readonly S[]): S[] {
    const scores = new Map(this.#current);
    const left = [...candidates];
    const out: S[] = [];
    while (left.length > 0) {
      const s = step(left, scores);
      if (!s) break;
      out.push(s);
      left.splice(left.indexOf(s), 1);
    }
    return out;
  }
}

function step<S extends Balanceable>(candidates: readonly S[], scores: Map<string, number>): S | undefined {
  let total = 0;
  let best: S | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const s of candidates) {
    if (s.weight <= 0) continue;
    const score = (scores.get(s.key) ?? 0) + s.weight;
    scores.set(s.key, score);
    total += s.weight;
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  if (best) scores.set(best.key, bestScore - total);
  return best;
}
