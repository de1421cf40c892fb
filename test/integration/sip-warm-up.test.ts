// The SIP code's warm-up (app/sip-warm-up.ts): before the first SIP listener of a process binds,
// synthetic calls through a throwaway proxy, once per thread; its calls, servers and timers are
// not the real proxy's. The first test must start this file's first SIP proxy: the warm-up is
// once per thread, and node:test runs a file's tests in order in one process.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { warmUpFor, warmUpSip } from "../../src/app/sip-warm-up.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import type { SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { problems } from "../helpers/config-problems.ts";
import { startProxy } from "../helpers/proxy.ts";

const yaml = (extra: string) => `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0${extra} } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { servers: [ { address: 127.0.0.1:1 }, { address: 127.0.0.1:2 } ] } }
`;

test("a proxy warms its SIP code up before the listener binds, once per thread, and keeps nothing of it", async () => {
  const p = await startProxy(yaml(", warm_up: 300"));
  try {
    const i = p.logs.findIndex((r) => r.event === "sip_warm_up");
    const listening = p.logs.findIndex((r) => r.msg === "listening" && r.listener === "sip");
    assert.ok(i >= 0, "a sip_warm_up line");
    assert.ok(listening > i, "said before the listener listens");
    const line = p.logs[i];
    assert.equal(line?.calls, 300);
    assert.equal(line?.listener, "sip");
    assert.ok(typeof line?.ms === "number" && line.ms >= 0);
    // The real proxy: no call, no session on its servers, nothing dropped, no line per call.
    const l = p.proxy.runtime.listener("sip");
    assert.equal(l?.sessions, 0);
    for (const pool of p.proxy.runtime.generation.pools.values())
      for (const m of pool.servers) assert.equal(m.active + m.total, 0, `${m.key} has had no session`);
    assert.equal(p.sessions().length, 0, "no line of a call");
  } finally {
    await p.close();
  }
  // A second SIP proxy in this thread finds the code compiled: no second warm-up.
  const q = await startProxy(yaml(", warm_up: 300"));
  try {
    assert.equal(q.logs.filter((r) => r.event === "sip_warm_up").length, 0);
  } finally {
    await q.close();
  }
});

test("warm_up: 0 turns it off; other protocols have none; a warm-up that throws is said and the listener starts", () => {
  const events = new EventBus<TrunklineEvents>();
  const seen: TrunklineEvents["sip.warm_up"][] = [];
  events.on("sip.warm_up", (e) => seen.push(e));
  const listener = (extra: string, at = 0) => {
    const l = parseConfigText(yaml(extra), "t.yaml").listeners[at];
    assert.ok(l);
    return l;
  };
  let runs = 0;
  const run = (calls: number) => {
    runs++;
    return { calls, ms: 1 };
  };
  warmUpFor(listener(", warm_up: 0"), events, { warm: false }, run);
  const http = parseConfigText(
    "listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: web, pool: p } ]\npools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }\n",
    "h.yaml",
  ).listeners[0];
  assert.ok(http);
  warmUpFor(http, events, { warm: false }, run);
  assert.equal(runs, 0);
  assert.equal(seen.length, 0);
  // Once per thread: the state says it is done.
  const state = { warm: false };
  warmUpFor(listener(""), events, state, run);
  warmUpFor(listener(""), events, state, run);
  assert.equal(runs, 1);
  assert.deepEqual(seen, [{ listener: "sip", calls: 2000, ms: 1 }]);
  // A bug in the warm-up: said, and the listener is created all the same (no throw).
  warmUpFor(listener(""), events, { warm: false }, () => {
    throw new Error("boom");
  });
  assert.deepEqual(seen[1], { listener: "sip", calls: 0, ms: 0, error: "boom" });
});

test("warm_up: 2,000 calls by default; a whole number from 0 to 100,000, refused with its path otherwise", () => {
  const calls = (extra: string) => {
    const l = parseConfigText(yaml(extra), "t.yaml").listeners[0];
    assert.ok(l);
    return (l.options as SipListenerOptions).warmUpCalls;
  };
  assert.equal(calls(""), 2000);
  assert.equal(calls(", warm_up: 0"), 0);
  assert.equal(calls(", warm_up: 500"), 500);
  for (const bad of ["-1", "1.5", "100001", "lots"])
    assert.match(problems(yaml(`, warm_up: ${bad}`)).join("\n"), /warm_up/, bad);
});

test("the warm-up's own proxy closes: no timer of it is left to keep the process alive or fire later", () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const r = warmUpSip(50);
  assert.equal(r.calls, 50);
  const after = process.getActiveResourcesInfo().filter((x) => x === "Timeout").length;
  assert.equal(after, before);
});
