import type { Balanceable, Balancer } from "./types.ts";

const POINTS_PER_WEIGHT = 40;
const MAX_POINTS = 4000;

/** FNV-1a 32-bit over UTF-16 code units, then a murmur3 finaliser to spread nearby keys. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Consistent hashing (HAProxy's lb_chash.c, Karger's ring): every server owns points on a
 * ring in proportion to its weight; a key goes to the first point clockwise whose server
 * can take it. Removing or filling one server only moves the keys it owned.
 */
export class ConsistentHash<S extends Balanceable> implements Balancer<S> {
  #ring: { point: number; key: string }[] = [];

  setServers(all: readonly S[]): void {
    const ring: { point: number; key: string }[] = [];
    for (const s of all) {
      const n = Math.min(MAX_POINTS, Math.max(1, s.weight) * POINTS_PER_WEIGHT);
      for (let i = 0; i < n; i++) ring.push({ point: hash32(`${s.key}#${i}`), key: s.key });
    }
    ring.sort((a, b) => a.point - b.point);
    this.#ring = ring;
  }

  pick(candidates: readonly S[], hashKey: string): S | undefined {
    return this.order(candidates, hashKey)[0];
  }

  order(candidates: readonly S[], hashKey: string): S[] {
    const byKey = new Map(candidates.filter((s) => s.weight > 0).map((s) => [s.key, s]));
    const out: S[] = [];
    const ring = this.#ring;
    if (ring.length === 0 || byKey.size === 0) return out;
    const h = hash32(hashKey);
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ring[mid] as { point: number }).point < h) lo = mid + 1;
      else hi = mid;
    }
    for (let i = 0; i < ring.length && byKey.size > 0; i++) {
      const p = ring[(lo + i) % ring.length] as { key: string };
      const s = byKey.get(p.key);
      if (s) {
        out.push(s);
        byKey.delete(p.key);
      }
    }
    return out;
  }
}
