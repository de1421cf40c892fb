/** What a balancing algorithm sees of a server: identity, load and weight. */
export interface Balanceable {
  readonly key: string;
  /** Sessions placed on the server and not yet ended (including connects in progress). */
  readonly active: number;
  /** Configured weight scaled by the agent's NN%, at least 0. */
  readonly weight: number;
}

/**
 * One balancing algorithm. `candidates` are already filtered to servers that may take a
 * session now, in configuration order. `pick` may advance internal state (rotation);
 * `order` must not: it previews the sequence a session would try (`trunkline route`).
 */
export interface Balancer<S extends Balanceable = Balanceable> {
  /** The full server list of the pool, in config order; called again after a reload. */
  setServers(all: readonly S[]): void;
  pick(candidates: readonly S[], hashKey: string): S | undefined;
  order(candidates: readonly S[], hashKey: string): S[];
}
