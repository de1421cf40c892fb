// A listener bound by a reload's first phase accepts connections before the reload is
// committed (worker threads all bind, then all commit). Found by takeover-load in a fresh-clone
// CI run: two sessions accepted by a new proxy's worker in that window got FAILURE
// ("runtime not started"). They now wait for the commit, then route with the new generation.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { Runtime } from "../../src/app/runtime.ts";
import { TrunklineError } from "../../src/core/errors.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { until } from "../helpers/proxy.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

/** A FastAGI listener bound by a reload's first phase, not committed, over one NOOP server. */
async function prepared(t: TestContext) {
  const up = await startAgiServer({ commands: ["NOOP"] });
  t.after(() => up.close());
  const port = await freePort();
  const snap = parseConfigText(
    `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${port} } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    "gate.yaml",
  );
  const rt = new Runtime();
  t.after(() => rt.close());
  const p = await rt.prepare(snap);
  assert.ok(!(p instanceof TrunklineError), String(p));
  const l = p.started[0];
  assert.ok(l);
  return { up, port, rt, p, l };
}

test("a session accepted between a reload's bind and its commit waits for the commit and is served", {
  timeout: 20_000,
}, async (t) => {
  const { up, port, rt, p, l } = await prepared(t);
  const call = agiCall({ port, url: "agi://x/y", timeoutMs: 8_000 });
  // The proxy has the session (header read, waiting to route) before the commit.
  await until(() => l.sessions === 1 && l.pending === 0, 5_000, "the session's header read");
  assert.equal(up.stats.sessions, 0, "nothing reached the server before the commit");
  rt.commit(p);
  const r = await call;
  assert.equal(r.status, "SUCCESS", JSON.stringify(r));
});

test("a reload that is aborted lets a waiting session go: it ends at once, without waiting forever", {
  timeout: 20_000,
}, async (t) => {
  const { up, port, rt, p, l } = await prepared(t);
  const started = Date.now();
  const call = agiCall({ port, url: "agi://x/y", timeoutMs: 8_000 });
  await until(() => l.sessions === 1 && l.pending === 0, 5_000, "the session's header read");
  await rt.abort(p);
  await call;
  // Closed by the aborted listener (Asterisk reads a close as the session's end), never routed.
  assert.ok(Date.now() - started < 5_000, `the session ended after ${Date.now() - started} ms`);
  assert.equal(up.stats.sessions, 0, "an aborted reload's listener routed a session");
});
