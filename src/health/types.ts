import type { PoolConfig, ServerConfig } from "../config/types.ts";
import type { ServerEntry } from "../servers/server.ts";

/** What health needs of a pool: its health settings and its servers (with their esl settings). */
export interface MonitoredPool {
  readonly config: Pick<PoolConfig, "health">;
  readonly servers: readonly { readonly server: ServerEntry; readonly config: ServerConfig }[];
}

/**
 * A check that failed. `local`: it failed for want of this host's own descriptors, buffers or
 * ports (EMFILE, ENOBUFS, …): no verdict on the server, so it does not count toward `fall`.
 */
export interface ProbeFailure {
  readonly ok: false;
  readonly reason: string;
  readonly local?: true;
}
