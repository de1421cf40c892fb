// A SipProxy with no sockets, for the tests and the core benchmark (bench/sip/core.ts): one
// `sip` listener on 127.0.0.1:5060 over UDP, its routes and pools from `config` (YAML with
// `routes:` and `pools:`), every datagram it sends handed to `send`, time from `clock`.
import { parseConfigText } from "../../src/app/config.ts";
import { buildGeneration } from "../../src/app/runtime.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import type { SipClock } from "../../src/protocols/sip/clock.ts";
import { rrKey, type SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { SipProxy } from "../../src/protocols/sip/proxy.ts";
import type { SipRoutes } from "../../src/protocols/sip/routes.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";

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
  return new SipProxy(
    {
      listener: "sip",
      options,
      us: { ...us, transport: "udp" },
      serverTransport: "udp",
      keys: [rrKey("sip", options, us)],
      sealKeys: [rrKey("sip", options, us)],
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
