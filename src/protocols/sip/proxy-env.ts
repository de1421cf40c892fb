/**
 * What the SIP proxy core needs from the rest of Trunkline (style.md practice 2): its
 * listener's settings and address, a sender, a clock, the events, and the pools and routes
 * of the generation now. Defined here so the core never imports the application.
 */

import type { Pool, PoolMember } from "../../balance/pool.ts";
import { parseHostPort } from "../../core/address.ts";
import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import type { SipClock } from "./clock.ts";
import type { SipListenerOptions } from "./config.ts";
import type { ProxyAddress } from "./route.ts";
import type { SipRoutes } from "./routes.ts";
import type { SipPeer, SipSender, SipTransportName } from "./transport.ts";

export interface SipProxyEnv {
  readonly listener: string;
  readonly options: SipListenerOptions;
  /** Our address as written in Via and Record-Route (the advertised one). */
  readonly us: ProxyAddress;
  /**
   * The transport toward servers: the listener's first. A caller on another transport gets a
   * double Record-Route (§16.6 step 4, RFC 5658), one entry facing each side.
   */
  readonly serverTransport: SipTransportName;
  /** Record-Route token keys: the first signs, all verify. */
  readonly keys: readonly Buffer[];
  /**
   * Via seal keys (via-seal.ts): the first seals, all verify. The secret's key when one is
   * set (a cluster shares it); else a random one of this listener's own, since the derived
   * token key is computable by anyone who knows the listener's name and address.
   */
  readonly sealKeys: readonly Buffer[];
  readonly sender: SipSender;
  readonly clock: SipClock;
  readonly events: EventBus<TrunklineEvents>;
  pools(): ReadonlyMap<string, Pool>;
  routes(): SipRoutes | undefined;
  /** The listener's load shedding (net/load-shed.ts); absent: off. */
  readonly overload?: OverloadGate | undefined;
}

/** Load shedding as the core sees it: new calls admitted or not, and the signs of a backlog. */
export interface OverloadGate {
  /** Whether to take a new call now; false: 503. */
  admit(): boolean;
  /** An INVITE retransmitted to us: the caller's T1 ran out before our answer. */
  sign(): void;
}

/** What a listener's proxy core counts (its metrics). */
export interface SipProxyStats {
  /** Messages dropped, by reason (not ours, bad token, unroutable...). */
  readonly dropped: Map<string, number>;
  /** Requests answered by the proxy itself, by status. */
  readonly answered: Map<number, number>;
}

export function failoverCodes(pool: Pool): readonly number[] {
  return pool.config.failoverCodes;
}

export function inviteTimeoutMs(pool: Pool): number {
  return pool.config.inviteTimeoutMs;
}

export function ringTimeoutMs(pool: Pool): number {
  return pool.config.ringTimeoutMs;
}

export function memberTarget(m: PoolMember, transport: SipTransportName): SipPeer {
  return { transport, host: m.config.address.host, port: m.config.address.port };
}

/** The address of a server by its key (host:port, IPv6 in brackets), when no pool lists it now. */
export function keyTarget(key: string, transport: SipTransportName): SipPeer | undefined {
  const hp = parseHostPort(key, 0);
  return typeof hp === "string" || hp.port === 0 ? undefined : { transport, host: hp.host, port: hp.port };
}

/** The pool member of that key in any pool of the generation: a token can name no other server. */
export function findMember(pools: ReadonlyMap<string, Pool>, key: string): PoolMember | undefined {
  for (const p of pools.values()) for (const m of p.servers) if (m.key === key) return m;
  return undefined;
}
