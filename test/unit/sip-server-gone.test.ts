// Which health changes say a server is gone (health/refusal.ts): refused checks only. A server
// whose pings time out may be overloaded, not dead, and keeps the calls ringing on it. The
// runtime publishes `server.gone` for them on the main thread, a worker from the state the
// main thread sends it (servers/mirror.ts), and the SIP proxy hears it (server-gone.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Runtime } from "../../src/app/runtime.ts";
import { coreProxy } from "../../src/app/sip-core.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { isGone, isRefusal, SIP_OPTIONS_REFUSED } from "../../src/health/refusal.ts";
import { onServerGone } from "../../src/protocols/sip/server-gone.ts";
import { SimClock } from "../../src/protocols/sip/sim-clock.ts";
import { applyEntryState, entryState } from "../../src/servers/mirror.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";
import type { ServerChange } from "../../src/servers/types.ts";

const TIMEOUT = "sip-options: no answer within 1000ms";

test("refusals are a server gone; timeouts, unreachable hosts, answers and look-alike texts are not", () => {
  assert.equal(isRefusal(SIP_OPTIONS_REFUSED), true);
  assert.equal(isRefusal("tcp check: ECONNREFUSED"), true);
  assert.equal(isRefusal(TIMEOUT), false);
  assert.equal(isRefusal("tcp check: no connection within 1000ms"), false);
  assert.equal(isRefusal("sip-options: EHOSTUNREACH"), false);
  assert.equal(isRefusal("sip-options: answered 503"), false);
  // A session's failure fed to the checks, an agent's own words: not the probes' refusal.
  assert.equal(isRefusal("session INVITE failed: server gone: tcp check: ECONNREFUSED"), false);
  assert.equal(isRefusal("agent: down#db: ECONNREFUSED"), false);
  const h = { layer: "health", what: "health", to: "down" } as const;
  assert.equal(isGone({ ...h, reason: SIP_OPTIONS_REFUSED }), true);
  assert.equal(isGone({ ...h, to: "up", reason: SIP_OPTIONS_REFUSED }), false);
  assert.equal(isGone({ ...h, reason: TIMEOUT }), false);
  assert.equal(
    isGone({ layer: "passive", what: "passive", to: "down", reason: "tcp check: ECONNREFUSED" }),
    false,
  );
  // An agent or an event socket saying down is the server speaking: it is there.
  assert.equal(
    isGone({ layer: "agent", what: "health", to: "down", reason: "tcp check: ECONNREFUSED" }),
    false,
  );
  assert.equal(isGone({ layer: "esl", what: "health", to: "down", reason: SIP_OPTIONS_REFUSED }), false);
});

function oneServer(reg: ServerRegistry) {
  reg.sync([
    {
      name: "fs",
      servers: [
        { key: "10.0.0.21:5060", address: { host: "10.0.0.21", port: 5060 }, weight: 1, maxSessions: 0 },
      ],
    },
  ]);
  const e = reg.get("10.0.0.21:5060");
  assert.ok(e);
  return e;
}

test("the runtime publishes server.gone when checks take a server down by refusal, not by timeout", () => {
  const rt = new Runtime();
  const gone: string[] = [];
  const off = onServerGone(rt.events, (server, reason) => gone.push(`${server} ${reason}`));
  const e = oneServer(rt.registry);
  e.recordCheck(false, TIMEOUT, 2, 2);
  e.recordCheck(false, TIMEOUT, 2, 2);
  assert.equal(e.health, "down");
  assert.deepEqual(gone, [], "a server that times out may only be slow");
  e.recordCheck(true, "sip-options: answered 200", 1, 2);
  assert.equal(e.health, "up");
  e.recordCheck(false, SIP_OPTIONS_REFUSED, 1, 2);
  e.recordCheck(false, SIP_OPTIONS_REFUSED, 1, 2);
  assert.deepEqual(gone, [`10.0.0.21:5060 ${SIP_OPTIONS_REFUSED}`]);
  e.recordCheck(false, SIP_OPTIONS_REFUSED, 1, 2);
  assert.equal(gone.length, 1, "once, when it goes down");
  off();
});

test("a worker thread's mirror says gone when the main thread's state takes the server down by refusal", () => {
  const main = oneServer(new ServerRegistry(() => {}));
  const mirror = oneServer(new ServerRegistry(() => {}));
  main.setHealth("down", TIMEOUT);
  assert.equal(applyEntryState(mirror, entryState(main)), false);
  main.setHealth("up", "sip-options: answered 200");
  assert.equal(applyEntryState(mirror, entryState(main)), false);
  main.setHealth("down", SIP_OPTIONS_REFUSED);
  assert.equal(applyEntryState(mirror, entryState(main)), true);
  assert.equal(mirror.health, "down");
  assert.equal(applyEntryState(mirror, entryState(main)), false, "once, when it goes down");
});

test("a server down by timeouts and then refused is said gone anew, once, to the bus and to a worker's mirror", () => {
  const changes: ServerChange[] = [];
  const main = oneServer(new ServerRegistry((c) => changes.push(c)));
  const mirror = oneServer(new ServerRegistry(() => {}));
  main.setHealth("down", TIMEOUT);
  assert.equal(applyEntryState(mirror, entryState(main)), false);
  main.restateHealth(SIP_OPTIONS_REFUSED);
  const last = changes.at(-1);
  assert.deepEqual(
    last && { layer: last.layer, what: last.what, from: last.from, to: last.to, reason: last.reason },
    { layer: "health", what: "health", from: "down", to: "down", reason: SIP_OPTIONS_REFUSED },
  );
  assert.ok(last && isGone(last), "the runtime's rule publishes server.gone for it");
  assert.equal(main.healthReason, SIP_OPTIONS_REFUSED);
  assert.equal(applyEntryState(mirror, entryState(main)), true, "the worker hears of the death");
  assert.equal(applyEntryState(mirror, entryState(main)), false, "once");
});

test("onServerGone hears server.gone only, and stops when told", () => {
  const bus = new EventBus<TrunklineEvents>();
  const heard: string[] = [];
  const off = onServerGone(bus, (server, reason) => heard.push(`${server} ${reason}`));
  bus.emit("server.gone", { server: "a", reason: SIP_OPTIONS_REFUSED });
  off();
  bus.emit("server.gone", { server: "b", reason: SIP_OPTIONS_REFUSED });
  assert.deepEqual(heard, [`a ${SIP_OPTIONS_REFUSED}`]);
});

test("a SIP proxy listens for server.gone from its start to its close", () => {
  const bus = new EventBus<TrunklineEvents>();
  const proxy = coreProxy(
    "routes: [ { listener: sip, pool: fs } ]\npools: { fs: { servers: [ { address: 127.0.0.1:5070 } ] } }\n",
    () => {},
    new SimClock(),
    bus,
  );
  assert.equal(bus.has("server.gone"), true);
  proxy.close();
  assert.equal(
    bus.has("server.gone"),
    false,
    "no listener left behind by a closed proxy (a reload makes new ones)",
  );
});
