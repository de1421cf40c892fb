import type { BalanceName } from "../config/types.ts";
import { Failover } from "./failover.ts";
import { ConsistentHash } from "./hash.ts";
import { LeastLoad } from "./least-load.ts";
import { LeastSessions } from "./least-sessions.ts";
import type { LoadScore } from "./load-score.ts";
import { RoundRobin } from "./round-robin.ts";
import type { Balanceable, Balancer } from "./types.ts";

export interface BalancerOptions<S> {
  /**
   * Servers' own load reports (FreeSWITCH heartbeats): `least-sessions` then ranks by them
   * when every candidate has a fresh one, and by our session counts otherwise.
   */
  readonly scoreOf?: (server: S) => LoadScore;
}

export function createBalancer<S extends Balanceable>(
  name: BalanceName,
  options: BalancerOptions<S> = {},
): Balancer<S> {
  switch (name) {
    case "least-sessions":
      return options.scoreOf ? new LeastLoad<S>(options.scoreOf) : new LeastSessions<S>();
    case "round-robin":
      return new RoundRobin<S>();
    case "failover":
      return new Failover<S>();
    case "hash":
      return new ConsistentHash<S>();
  }
}
