/**
 * Hostile route-script answers and a script that loops: each must end only its own session,
 * in FAILURE, and leave the proxy (and the other sessions) as they were.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("hostile answers (prototype pool names, non-strings, foreign schemes, process.exit) end their own session in FAILURE; the next one is served", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const script = `export default (r) => {
  switch (r.params.a) {
    case "proto": return "__proto__";
    case "ctor": return { pool: "constructor" };
    case "tostring": return "toString";
    case "num": return 42;
    case "poolobj": return { pool: { name: "main" } };
    case "http": return { to: "http://127.0.0.1:${up.port}/" };
    case "hostnl": return { to: "agi://127.0.0.1\\n:${up.port}/x" };
    case "exit": process.exit(3);
    default: return "main";
  }
};\n`;
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 2s } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "route.mjs": script } },
  );
  cleanup.push(p.close);
  const hostile = ["proto", "ctor", "tostring", "num", "poolobj", "http", "hostnl", "exit"];
  for (const [i, a] of hostile.entries()) {
    const r = await agiCall({ port: p.port(), url: `agi://pbx/x?a=${a}` });
    assert.equal(r.status, "FAILURE", a);
    const s = await p.session(i);
    assert.equal(s.outcome, "failure_route_error", `${a}: ${JSON.stringify(s)}`);
    assert.equal(s.error_code, "E_ROUTE_SCRIPT", a);
  }
  assert.equal(up.stats.sessions, 0, `no hostile answer reached a server: ${JSON.stringify(p.sessions())}`);
  assert.equal((await agiCall({ port: p.port(), url: "agi://pbx/x" })).status, "SUCCESS");
  await until(() => p.proxy.runtime.activeSessions === 0, 2000, "no session left");
});

// Fixed (script-runner.ts): a script that loops on one request "ends that session in FAILURE and never affects the proxy" (README, Route scripts) — the worker's replacement also fails every other call in flight on it: 1 looping request made 4 of 4 benign sessions that arrived during its loop end in FAILURE ("route script restarted after a timeout"), though a fresh worker was up at once
test("a route script looping on one caller's request does not fail the other callers' sessions", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 800ms } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "route.mjs": "" } },
  );
  cleanup.push(p.close);
  const flag = join(p.dir, "looping");
  // Written after start so the flag path (in the proxy's folder) is known; the reload makes it live.
  writeFileSync(
    join(p.dir, "route.mjs"),
    `import { writeFileSync } from "node:fs";
export default (r) => {
  if (r.params.loop) { writeFileSync(${JSON.stringify(flag)}, "1"); for (;;) {} }
  return "main";
};\n`,
  );
  const rr = await p.proxy.reload("test");
  assert.equal(rr.kind, "applied", JSON.stringify(rr));
  assert.equal((await agiCall({ port: p.port(), url: "agi://pbx/warm" })).status, "SUCCESS");
  const looping = agiCall({ port: p.port(), url: "agi://pbx/x?loop=1", timeoutMs: 6000 });
  await until(() => existsSync(flag), 3000, "the script is looping");
  const benign = await Promise.all(
    [1, 2, 3, 4].map((i) => agiCall({ port: p.port(), url: `agi://pbx/ok${i}`, timeoutMs: 6000 })),
  );
  assert.equal((await looping).status, "FAILURE");
  await until(() => p.sessions().length === 6, 3000, "six sessions logged");
  const failed = p
    .sessions()
    .filter((s) => /\/ok\d/.test(String(s.request)) && s.outcome !== "completed")
    .map((s) => `${s.request}: ${s.error}`);
  assert.deepEqual(
    { benignStatus: benign.map((b) => b.status), failed },
    { benignStatus: ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"], failed: [] },
  );
});

// A module that takes ~1 s to load: a cold worker, far longer than its script_timeout.
const SLOW_LOADING = (tag: string) => `
const until = Date.now() + 1000;
while (Date.now() < until) {}
export default function route() { return "main"; } // ${tag}
`;

// Fixed (script-runner.ts): "a session in flight is never dropped by a reload" and "a cold start never counts against script_timeout" — a session waiting for its generation's route-script worker to start is failed when a reload replaces the script: the old routes are closed lingerMs (script_timeout + 100 ms = 200 ms) after the commit, the queued call gets "route script closed", Asterisk gets FAILURE ~0.2 s after the reload (1 of 1 session dropped)
test("a session waiting for a cold route-script worker survives a reload that changes the script", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const cfg = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 100ms } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`;
  const p = await startProxy(cfg, { files: { "route.mjs": SLOW_LOADING("v1") } });
  cleanup.push(p.close);
  const call = agiCall({ port: p.port(), url: "agi://pbx/in-flight", timeoutMs: 8000 });
  const listener = p.proxy.runtime.listener("agi");
  assert.ok(listener);
  // The header is parsed (its request known): the call waits for the cold worker.
  await until(
    () => listener.sessionsInfo(5).some((s) => s.request !== undefined),
    3000,
    "the session is routing",
  );
  writeFileSync(join(p.dir, "route.mjs"), SLOW_LOADING("v2"));
  assert.equal((await p.proxy.reload("script changed")).kind, "applied");
  const r = await call;
  const s = await p.session(0);
  assert.deepEqual(
    { status: r.status, outcome: s.outcome },
    { status: "SUCCESS", outcome: "completed" },
    JSON.stringify(s),
  );
});
