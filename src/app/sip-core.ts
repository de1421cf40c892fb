/**
 * A SIP proxy with no sockets, its own event bus and servers: one `sip` listener on
 * 127.0.0.1:5060 over UDP, its routes and pools from `config` (YAML with `routes:` and
 * `pools:`), every datagram it sends handed to `send`, time from `clock`. What the warm-up of
 * a new process's SIP code drives (sip-warm-up.ts), and the tests and the core benchmark.
 */

import { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { SipClock } from "../protocols/sip/clock.ts";
import { rrKey, type SipListenerOptions } from "../protocols/sip/config.ts";
import { parseMessage } from "../protocols/sip/message.ts";
import { SipProxy } from "../protocols/sip/proxy.ts";
import type { SipRoutes } from "../protocols/sip/routes.ts";
import type { SipPeer } from "../protocols/sip/transport.ts";
import { ServerRegistry } from "../servers/registry.ts";
import { parseConfigText } from "./config.ts";
import { buildGeneration } from "./runtime.ts";

export function coreProxy(
  config: string,
  send: (to: SipPeer, bytes: Buffer) => void,
  clock: SipClock,
  events = new EventBus<TrunklineEvents>(),
): SipProxy {
  const snap = parseConfigText(
    `listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]\n${config}`,
    "core.yaml",
  );
  const gen = buildGeneration(snap, new ServerRegistry(() => {}));
  const listener = snap.listeners[0];
  if (!listener) throw new Error("no listener");
  const options = listener.options as SipListenerOptions;
  const us = { host: "127.0.0.1", port: 5060 };
  const key = rrKey("sip", options, us);
  return new SipProxy(
    {
      listener: "sip",
      options,
      us: { ...us, transport: "udp" },
      serverTransport: "udp",
      keys: [key],
      sealKeys: [key],
      sender: {
        send(to, bytes) {
          send(to, bytes);
          return true;
        },
      },
      clock,
      events,
      pools: () => gen.pools,
      routes: () => gen.routes("sip") as SipRoutes | undefined,
    },
    () => {},
  );
}

/** One datagram's bytes parsed as the UDP transport parses them and handed to `proxy`. */
export function handleDatagram(proxy: SipProxy, bytes: Buffer, from: SipPeer): void {
  const m = parseMessage(bytes, { stream: false });
  if (!m.ok) throw new Error(m.error.message);
  proxy.handle({ message: m.message, source: from, flow: undefined, size: bytes.length });
}
