import type { Balanceable, Balancer } from "./types.ts";

/** The first server in configuration order that can take the session. */
export class Failover<S extends Balanceable> implements Balancer<S> {
  setServers(): void {}

  pick(candidates: readonly S[]): S | undefined {
    return candidates.find((s) => s.weight > 0);
  }

  order(candidates: readonly S[]): S[] {
    return candidates.filter((s) => s.weight > 0);
  }
}
