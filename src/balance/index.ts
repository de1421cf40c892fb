import type { BalanceName } from "../config/types.ts";
import { Failover } from "./failover.ts";
import { ConsistentHash } from "./hash.ts";
import { LeastSessions } from "./least-sessions.ts";
import { RoundRobin } from "./round-robin.ts";
import type { Balanceable, Balancer } from "./types.ts";

export function createBalancer<S extends Balanceable>(name: BalanceName): Balancer<S> {
  switch (name) {
    case "least-sessions":
      return new LeastSessions<S>();
    case "round-robin":
      return new RoundRobin<S>();
    case "failover":
      return new Failover<S>();
    case "hash":
      return new ConsistentHash<S>();
  }
}
