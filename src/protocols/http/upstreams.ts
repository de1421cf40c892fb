/**
 * Keep-alive connection pools toward upstream servers: one per server (wire/upstream-pool.ts:
 * bounded connections, kept alive between requests), created on a server's first request
 * and closed, once its requests are done, when the server has left every HTTP pool of the
 * config.
 */

import type { TlsClientConfig } from "../../config/types.ts";
import type { HostPort } from "../../core/address.ts";
import { UpstreamPool, type UpstreamPoolOptions, type UpstreamTarget } from "./wire/upstream-pool.ts";

export type { UpstreamPoolOptions, UpstreamTarget };

/** How long a pool given up by a reload waits for its requests in flight. */
const RETIRE_GRACE_MS = 60_000;

/** The connection pools of one listener, by server key. */
export class UpstreamPools {
  readonly #pools = new Map<string, UpstreamPool>();
  /** Pools of servers gone from the config, until their last request is over. */
  readonly #retired = new Set<UpstreamPool>();
  readonly #o: UpstreamPoolOptions;

  constructor(o: UpstreamPoolOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#pools.size;
  }

  /** The pool of server `key` (made on the server's first request, with what it needs of the server). */
  get(
    key: string,
    address: HostPort,
    tls: TlsClientConfig | undefined,
    connectTimeoutMs: number,
  ): UpstreamPool {
    let p = this.#pools.get(key);
    if (p !== undefined) return p;
    p = new UpstreamPool({ key, address, tls, connectTimeoutMs }, this.#o);
    this.#pools.set(key, p);
    return p;
  }

  /** The listener's sweep over every connection to a server. */
  check(now: number): void {
    for (const p of this.#pools.values()) p.check(now);
    for (const p of this.#retired) p.check(now);
  }

  /** Closes the pools of servers not in `keep`: each after its requests in flight. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, p] of this.#pools) {
      if (keep.has(key)) continue;
      this.#pools.delete(key);
      this.#retired.add(p);
      void p.close(RETIRE_GRACE_MS).then(() => this.#retired.delete(p));
    }
  }

  /** Closes every pool: idle connections now, busy ones after `graceMs`. */
  async close(graceMs = 0): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(all.map((p) => p.close(graceMs)));
  }
}
