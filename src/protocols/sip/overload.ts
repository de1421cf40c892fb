/**
 * A SIP listener's load shedding (net/load-shed.ts): new calls get 503 with Retry-After while
 * this thread's loop is saturated and its backlog shows (datagrams the kernel dropped at the
 * UDP socket, INVITEs retransmitted to us), and the start and end of it are said as
 * `sip.overload`.
 */

import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import { LoadShed } from "../../net/load-shed.ts";
import { readUdpQueue } from "../../net/udp-queue.ts";
import type { SipListenerOptions } from "./config.ts";

/** The listener's UDP socket as the kernel's queues are read by: its address and family. */
export interface UdpSocketView {
  readonly host: string;
  readonly port: number;
  readonly family: "IPv4" | "IPv6";
}

export function sipShedder(
  listener: string,
  o: SipListenerOptions,
  events: EventBus<TrunklineEvents>,
  udp: () => UdpSocketView | undefined,
): LoadShed | undefined {
  if (o.overload === undefined) return undefined;
  const limit = o.overload.utilization;
  let drops = 0;
  // Drops since the last hot sample of this run: the first one of a run only counts them.
  const backlog = (first: boolean) => {
    const u = udp();
    const q = u === undefined ? undefined : readUdpQueue(u.port, u.family, u.host);
    if (q === undefined) return false;
    const dropped = !first && q.drops > drops;
    drops = q.drops;
    return dropped;
  };
  return new LoadShed(o.overload, {
    backlog,
    onChange: (shedding, utilization) =>
      events.emit("sip.overload", { listener, shedding, utilization: round(utilization), limit }),
  });
}

function round(u: number): number {
  return Math.round(u * 1000) / 1000;
}
