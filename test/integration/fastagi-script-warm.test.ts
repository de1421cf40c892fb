import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { FastAgiRoutes } from "../../src/protocols/fastagi/routes.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

// A script whose module takes ~300 ms to load (a cold start far above its 80 ms timeout).
const SLOW_SCRIPT = `
const until = Date.now() + 300;
while (Date.now() < until) {}
export default function route() { return "main"; }
`;

test("route scripts start with their generation, keep their worker across reloads, and a cold start never counts against script_timeout", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const cfg = (extra: string) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 80ms } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
${extra}`;
  const p = await startProxy(cfg(""), { files: { "route.mjs": SLOW_SCRIPT } });
  cleanup.push(p.close);
  const routes = () => p.proxy.runtime.generation.routes("fastagi") as FastAgiRoutes;
  // The first session waits for the worker's start-up, not for a timeout.
  const first = await agiCall({ port: p.port(), url: "agi://x/first" });
  assert.equal(first.status, "SUCCESS");
  const before = routes().runners;
  // A reload that leaves the script unchanged keeps its worker: the next session is warm.
  p.writeConfig(cfg("shutdown_timeout: 5s"));
  assert.equal((await p.proxy.reload("unrelated change")).kind, "applied");
  assert.equal(routes().runners.length, 1);
  assert.equal(routes().runners[0], before[0], "the same worker serves the new generation");
  const second = await agiCall({ port: p.port(), url: "agi://x/second" });
  assert.equal(second.status, "SUCCESS");
  assert.equal(up.stats.sessions, 2);
});
