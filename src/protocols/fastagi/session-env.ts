import type { Socket } from "node:net";
import type { AttemptPool } from "../../balance/attempt.ts";
import type { PoolMember } from "../../balance/pool.ts";
import type { ListenerConfig, PoolConfig, TlsClientConfig } from "../../config/types.ts";
import type { HostPort } from "../../core/address.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import type { CancelToken } from "../../net/connect.ts";
import type { ReadTap } from "../../net/read-tap.ts";
import type { AgiRequest } from "./request.ts";
import type { RouteDecision } from "./router.ts";
import type { FastAgiListenerOptions } from "./types.ts";

/** What a session needs of a pool: the attempt loop's pool and its hash key. */
export interface SessionPool extends AttemptPool<PoolMember> {
  readonly name: string;
  readonly config: Pick<PoolConfig, "hashKeyOf">;
}

/** What a session needs of the application: its listener, routing, pools, connecting. */
export interface SessionEnv {
  readonly listener: ListenerConfig;
  readonly options: FastAgiListenerOptions;
  readonly events: EventBus<TrunklineEvents>;
  decide(request: AgiRequest): Promise<RouteDecision>;
  pool(name: string): SessionPool | undefined;
  connect(
    address: HostPort,
    tls: TlsClientConfig | undefined,
    timeoutMs: number,
    token: CancelToken,
    tap: ReadTap,
  ): Promise<Socket>;
}
