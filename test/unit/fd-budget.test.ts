import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { BASE_DESCRIPTORS, descriptorBudget, warnIfOverLimit } from "../../src/app/fd-budget.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { openFilesLimit } from "../../src/net/fd-limit.ts";
import { protocolNamed } from "../../src/protocols/registry.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test("the open-files limit is the soft one of /proc/self/limits; unlimited or unreadable: none", () => {
  assert.equal(
    openFilesLimit(() => LIMITS),
    1024,
  );
  assert.equal(
    openFilesLimit(() => LIMITS.replace("1024  ", "unlimited")),
    undefined,
  );
  assert.equal(
    openFilesLimit(() => {
      throw new Error("ENOENT");
    }),
    undefined,
  );
  assert.equal(
    openFilesLimit(() => "garbage\n"),
    undefined,
  );
  const here = openFilesLimit();
  assert.ok(here === undefined || here > 0);
});

const CONFIG = `
workers: 2
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_connections: 100 }
  - { name: web, protocol: http, listen: 127.0.0.1:0, max_connections: 50 }
  - { name: sip, protocol: sip, listen: 127.0.0.1:0, transports: [udp, tcp] }
  - { name: sipu, protocol: sip, listen: 127.0.0.1:0, transports: [udp] }
routes:
  - { listener: agi, pool: p }
  - { listener: web, pool: h }
  - { listener: sip, pool: s }
  - { listener: sipu, pool: s }
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
  h: { servers: [ { address: 127.0.0.1:2 } ] }
  s: { servers: [ { address: 127.0.0.1:3 } ] }
`;

test("the budget: two descriptors a connection at each cap, per thread where a listener runs on every thread", () => {
  const b = descriptorBudget(parseConfigText(CONFIG, "t.yaml"), protocolNamed);
  assert.deepEqual(b.listeners, {
    agi: (1 + 2 * 100) * 2,
    web: (1 + 2 * 50) * 2,
    // TCP keeps SIP on the main thread: UDP's socket, TCP's listener and its 10,000 connections.
    sip: 1 + 1 + 10_000,
    sipu: 1 * 2,
  });
  assert.equal(b.need, BASE_DESCRIPTORS + 402 + 202 + 10_002 + 2);
});

test("over the limit: one proxy.descriptors event with the figures; within it or unknown: none", () => {
  const snap = parseConfigText(CONFIG, "t.yaml");
  const bus = new EventBus<TrunklineEvents>();
  const seen: TrunklineEvents["proxy.descriptors"][] = [];
  bus.on("proxy.descriptors", (e) => seen.push(e));
  assert.equal(warnIfOverLimit(snap, protocolNamed, bus, 1_000_000), undefined);
  assert.equal(warnIfOverLimit(snap, protocolNamed, bus, undefined), undefined);
  assert.equal(seen.length, 0);
  const b = warnIfOverLimit(snap, protocolNamed, bus, 4096);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.need, b?.need);
  assert.equal(seen[0]?.limit, 4096);
  assert.equal(seen[0]?.listeners.sip, 10_002);
});
