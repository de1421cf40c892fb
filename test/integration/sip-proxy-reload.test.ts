// Live reload with calls in progress (issue #13, "Live reload"): calls set up on two servers,
// then a reload takes one server out of the pool. New calls go to the other; the dialogs in
// progress keep their server: their ACK and BYE still reach it, and each call's session slot
// is given back when it ends.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import {
  callLines,
  callThrough,
  sipConfig,
  sipListener,
  startAnswerers,
  startCaller,
} from "../helpers/sip-proxy.ts";

/** Two answerers behind a proxy, and four calls in progress (two on each) held 3 s (SIPp's -d). */
async function fourCallsInProgress(t: TestContext) {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  t.after(async () => {
    for (const x of uas) await x.run.kill();
  });
  const [a, b] = uas;
  assert.ok(a && b);
  const p = await startProxy(sipConfig([a.port, b.port]));
  t.after(() => p.close());
  const long = await startCaller(p, { calls: 4, rate: 20, timeoutMs: 30_000, extraArgs: ["-d", "3000"] });
  t.after(() => long.kill());
  const l = sipListener(p);
  await until(() => l.sessions === 4, 10_000, "four calls in progress");
  return { a, p, keyB: `127.0.0.1:${b.port}`, long, l };
}

test("a reload that removes a server keeps its calls in progress on it until their BYE", {
  timeout: 60_000,
}, async (t) => {
  const { a, p, keyB, long, l } = await fourCallsInProgress(t);
  assert.equal(p.proxy.runtime.registry.get(keyB)?.active, 2);
  // The pool keeps only A.
  p.writeConfig(sipConfig([a.port]));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  assert.equal(p.proxy.runtime.generation.pools.get("fs")?.servers.length, 1);
  const more = await callThrough(p, {
    calls: 6,
    rate: 20,
    timeoutMs: 30_000,
  });
  assert.equal(more.successful, 6, more.errors);
  const r = await long.done;
  assert.equal(r.successful, 4, `${r.errors}\n${r.output.slice(-1500)}`);
  await until(() => callLines(p).length === 10, 10_000, "a line per call");
  const lines = callLines(p);
  assert.equal(lines.filter((x) => x.server === keyB).length, 2, "B's two calls, none after the reload");
  for (const x of lines) assert.equal(x.end, "bye");
  assert.equal(l.sessions, 0);
  // B left every pool: once its last call ended the registry let it go.
  await until(() => p.proxy.runtime.registry.get(keyB) === undefined, 5_000, "B dropped from the registry");
  assert.equal(p.proxy.runtime.registry.get(`127.0.0.1:${a.port}`)?.active, 0);
});

test("an operator drain: the server gets no new call while its calls in progress go on to their BYE", {
  timeout: 60_000,
}, async (t) => {
  const { p, keyB, long } = await fourCallsInProgress(t);
  assert.ok(p.proxy.runtime.registry.override(keyB, { admin: "drain", weight: undefined }, "test"));
  const more = await callThrough(p, {
    calls: 6,
    rate: 20,
    timeoutMs: 30_000,
  });
  assert.equal(more.successful, 6, more.errors);
  assert.equal((await long.done).successful, 4);
  await until(() => callLines(p).length === 10, 10_000, "a line per call");
  assert.equal(
    callLines(p).filter((x) => x.server === keyB).length,
    2,
    "B's two calls from before the drain",
  );
  assert.equal(p.proxy.runtime.registry.get(keyB)?.active, 0);
});
