// The SIP code's warm-up (app/sip-warm-up.ts): before the listeners of a process first bind,
// synthetic calls through a throwaway proxy, once per process; its calls, servers and timers
// are not the real proxy's. The first test must start this file's first SIP proxy: the warm-up
// is once per process, and node:test runs a file's tests in order in one process.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { Runtime } from "../../src/app/runtime.ts";
import { warmUpFor, warmUpSip } from "../../src/app/sip-warm-up.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import type { SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { problems } from "../helpers/config-problems.ts";
import { startProxy } from "../helpers/proxy.ts";

// The warm-up's own servers are 127.0.0.1:5070 and :5071: the same keys here, so that a call of
// it counted in the real registry would show.
const yaml = (extra: string) => `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0${extra} } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 } ] } }
`;

test("a proxy warms its SIP code up before the listener binds, once per process, and keeps nothing of it", async () => {
  const p = await startProxy(yaml(", warm_up: 100"));
  try {
    const i = p.logs.findIndex((r) => r.event === "sip_warm_up");
    const listening = p.logs.findIndex((r) => r.msg === "listening" && r.listener === "sip");
    assert.ok(i >= 0, "a sip_warm_up line");
    assert.ok(listening > i, "said before the listener listens");
    const line = p.logs[i];
    // All of them, unless a busy machine ran it past its 2 s budget.
    assert.ok(
      line?.calls === 100 || (Number(line?.ms) >= 2000 && Number(line?.calls) > 0),
      JSON.stringify(line),
    );
    assert.equal(line?.listener, "sip");
    assert.ok(typeof line?.ms === "number" && line.ms >= 0);
    // The real proxy: no call, no session on its servers (the warm-up's own, by the same keys),
    // no line of a call, nothing dropped.
    assert.equal(p.proxy.runtime.listener("sip")?.sessions, 0);
    const servers = [...p.proxy.runtime.registry.entries()];
    assert.deepEqual(servers.map((e) => e.key).sort(), ["127.0.0.1:5070", "127.0.0.1:5071"]);
    for (const e of servers) assert.equal(e.active + e.total, 0, `${e.key} has had no session`);
    assert.equal(p.sessions().length, 0, "no line of a call");
    const sipLines = p.logs.filter(
      (r) => String(r.event ?? "").startsWith("sip_") && r.event !== "sip_warm_up",
    );
    assert.deepEqual(sipLines, []);
  } finally {
    await p.close();
  }
  // A second SIP proxy in this process finds the code compiled: no second warm-up.
  const q = await startProxy(yaml(", warm_up: 100"));
  try {
    assert.equal(q.logs.filter((r) => r.event === "sip_warm_up").length, 0);
  } finally {
    await q.close();
  }
});

test("warm_up: 0 turns it off; the first SIP listener decides; other protocols have none; a warm-up that throws is said", () => {
  const events = new EventBus<TrunklineEvents>();
  const seen: TrunklineEvents["sip.warm_up"][] = [];
  events.on("sip.warm_up", (e) => seen.push(e));
  const listener = (extra: string) => {
    const l = parseConfigText(yaml(extra), "t.yaml").listeners[0];
    assert.ok(l);
    return l;
  };
  let runs = 0;
  const run = (calls: number) => {
    runs++;
    return { calls, ms: 1, sentAfterClose: 0 };
  };
  const http = parseConfigText(
    "listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: web, pool: p } ]\npools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }\n",
    "h.yaml",
  ).listeners[0];
  assert.ok(http);
  warmUpFor(http, events, { warm: false }, run);
  // The first SIP listener decides, 0 included: a later one never warms up.
  const off = { warm: false };
  warmUpFor(listener(", warm_up: 0"), events, off, run);
  warmUpFor(listener(""), events, off, run);
  assert.equal(runs, 0);
  assert.equal(seen.length, 0);
  // Once per process: the state says it is done.
  const state = { warm: false };
  warmUpFor(listener(""), events, state, run);
  warmUpFor(listener(""), events, state, run);
  assert.equal(runs, 1);
  assert.deepEqual(seen, [{ listener: "sip", calls: 2000, ms: 1 }]);
  // A bug in the warm-up: said, and no throw reaches the listener's creation.
  warmUpFor(listener(""), events, { warm: false }, () => {
    throw new Error("boom");
  });
  assert.deepEqual(seen[1], { listener: "sip", calls: 0, ms: 0, error: "boom" });
});

test("the runtime runs the hook at its first start only, for every listener, before any binds", async () => {
  const seen: string[] = [];
  let boundAtHook = -1;
  const rt = new Runtime(undefined, {
    beforeListener: (cfg) => {
      seen.push(cfg.name);
      boundAtHook = Math.max(boundAtHook, rt.listeners.size);
    },
  });
  const two = `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
  - { name: sip, protocol: sip, listen: 127.0.0.1:0, warm_up: 0 }
routes: [ { listener: agi, pool: p }, { listener: sip, pool: fs } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] }, fs: { servers: [ { address: 127.0.0.1:5070 } ] } }
`;
  await rt.start(parseConfigText(two, "a.yaml"));
  try {
    assert.deepEqual(seen, ["agi", "sip"]);
    assert.equal(boundAtHook, 0, "no listener bound when the hook ran");
    // A reload that adds a listener: its loop is serving, no hook.
    const three = two.replace(
      "  - { name: sip,",
      "  - { name: sip2, protocol: sip, listen: 127.0.0.1:0 }\n  - { name: sip,",
    );
    assert.equal(await rt.apply(parseConfigText(three, "b.yaml")), undefined);
    assert.ok(rt.listener("sip2"));
    assert.deepEqual(seen, ["agi", "sip"]);
  } finally {
    await rt.close();
  }
});

test("warm_up: 2,000 calls by default; a whole number from 0 to 20,000, refused with its path otherwise", () => {
  const calls = (extra: string) => {
    const l = parseConfigText(yaml(extra), "t.yaml").listeners[0];
    assert.ok(l);
    return (l.options as SipListenerOptions).warmUpCalls;
  };
  assert.equal(calls(""), 2000);
  assert.equal(calls(", warm_up: 0"), 0);
  assert.equal(calls(", warm_up: 500"), 500);
  for (const bad of ["-1", "1.5", "20001", "lots"])
    assert.match(problems(yaml(`, warm_up: ${bad}`)).join("\n"), /warm_up/, bad);
});

test("the warm-up's own proxy closes: nothing of it acts later; it stops at its time budget whatever its count", () => {
  const r = warmUpSip(50);
  assert.equal(r.calls, 50);
  // A day of its simulated time after its close: no retransmission, CANCEL or answer sent.
  assert.equal(r.sentAfterClose, 0);
  const cut = warmUpSip(20_000, 1);
  assert.ok(cut.calls < 20_000, `${cut.calls} calls in a 1 ms budget`);
  assert.ok(cut.ms < 1_000, `${cut.ms} ms`);
});
