/**
 * Keep-alive connection pools toward upstream servers: one undici Pool per server (bounded
 * connections, kept alive between requests), created on a server's first request and closed,
 * once its requests are done, when the server has left every HTTP pool of the config.
 */

import { Pool } from "undici";
import type { TlsClientConfig } from "../../config/types.ts";
import { formatHostPort, type HostPort } from "../../core/address.ts";
import { clientTlsOptions } from "../../net/tls-client.ts";

/** What a connection pool needs to know of a server. */
export interface UpstreamTarget {
  readonly key: string;
  readonly address: HostPort;
  readonly tls: TlsClientConfig | undefined;
  readonly connectTimeoutMs: number;
}

export interface UpstreamPoolOptions {
  /** Connections per server, at most. */
  readonly connections: number;
  /** Wait for a response head, and between body chunks. */
  readonly timeoutMs: number;
}

/** The connection pools of one listener, by server key. */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #o: UpstreamPoolOptions;

  constructor(o: UpstreamPoolOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#pools.size;
  }

  get(t: UpstreamTarget): Pool {
    let p = this.#pools.get(t.key);
    if (p !== undefined) return p;
    const tls = t.tls;
    const origin = `${tls ? "https" : "http"}://${formatHostPort(t.address)}`;
    p = new Pool(origin, {
      connections: this.#o.connections,
      headersTimeout: this.#o.timeoutMs,
      bodyTimeout: this.#o.timeoutMs,
      // A server's own Keep-Alive: timeout=N is honoured (less a margin), else 4 s: below
      // the 5 s of Node's and nginx's servers, so we never send on a socket they are closing.
      keepAliveTimeout: 4_000,
      connect: {
        timeout: t.connectTimeoutMs,
        noDelay: true,
        ...(tls ? clientTlsOptions(tls, t.address.host) : {}),
      },
    });
    this.#pools.set(t.key, p);
    return p;
  }

  /** Closes the pools of servers not in `keep`: each after its requests in flight. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, p] of this.#pools) {
      if (keep.has(key)) continue;
      this.#pools.delete(key);
      p.close().catch(() => {});
    }
  }

  /** Closes every pool: gracefully until `graceMs`, then by force. */
  async close(graceMs = 0): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(
      all.map(async (p) => {
        let timer: NodeJS.Timeout | undefined;
        const force = new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        });
        await Promise.race([p.close().catch(() => {}), force]);
        clearTimeout(timer);
        if (!p.closed || !p.destroyed) await p.destroy().catch(() => {});
      }),
    );
  }
}
