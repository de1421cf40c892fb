/**
 * A SIP listener's load shedding (net/load-shed.ts): new calls get 503 with Retry-After while
 * this thread's loop is saturated, and the start and end of it are said as `sip.overload`.
 */

import type { EventBus } from "../../events/bus.ts";
import type { TrunklineEvents } from "../../events/types.ts";
import { LoadShed } from "../../net/load-shed.ts";
import type { SipListenerOptions } from "./config.ts";

export function sipShedder(
  listener: string,
  o: SipListenerOptions,
  events: EventBus<TrunklineEvents>,
): LoadShed | undefined {
  if (o.overload === undefined) return undefined;
  const limit = o.overload.utilization;
  return new LoadShed(o.overload, {
    onChange: (shedding, utilization) =>
      events.emit("sip.overload", { listener, shedding, utilization: round(utilization), limit }),
  });
}

function round(u: number): number {
  return Math.round(u * 1000) / 1000;
}
