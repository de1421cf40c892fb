import type { PoolConfig, ServerConfig } from "../config/types.ts";
import type { ServerEntry } from "../servers/server.ts";

/** What health needs of a pool: its health settings and its servers (with their esl settings). */
export interface MonitoredPool {
  readonly config: Pick<PoolConfig, "health">;
  readonly servers: readonly { readonly server: ServerEntry; readonly config: ServerConfig }[];
}
