// Upstream failures (issue #14): 502 with a short body when every server is down; a GET that
// was sent and failed is tried on the next server, a POST that was sent never is (the origins
// count what they received), a POST that never left is; 504 past upstream_timeout.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deadPort, get, httpConfig, pool, resetAfterRequest, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";

const failover = "    balance: failover\n    max_fails: 0\n";
const poolOf = (ports: number[]) => pool("p", ports).replace("    balance: round-robin\n", failover);

test("every server down: 502 with a short text body, each try in the log line", {
  timeout: 30_000,
}, async (t) => {
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: p }", poolOf([await deadPort(), await deadPort()])),
  );
  t.after(() => p.close());
  const r = await get(p.port("web"), "/", { host: "a" });
  assert.equal(r.status, 502);
  assert.match(r.headers["content-type"] ?? "", /^text\/plain/);
  assert.ok(r.body.length < 200, r.body);
  const line = await p.session(0);
  assert.equal(line.status, 502);
  assert.equal(line.error_code, "E_CONNECT_FAILED");
  assert.equal((line.failed_attempts as unknown[]).length, 2);
});

test("a GET reset after it was sent is retried on the next server", { timeout: 30_000 }, async (t) => {
  const bad = await startOrigin(t, "bad", resetAfterRequest);
  const good = await startOrigin(t, "good");
  const p = await startProxy(httpConfig("  - { listener: web, pool: p }", poolOf([bad.port, good.port])));
  t.after(() => p.close());
  const r = await get(p.port("web"), "/safe", { host: "a" });
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-origin"], "good");
  assert.equal(bad.requests, 1, "the first server got the GET");
  assert.equal(good.requests, 1);
});

test("a POST that was sent and failed is not retried: 502, and the next server never sees it", {
  timeout: 30_000,
}, async (t) => {
  const bad = await startOrigin(t, "bad", resetAfterRequest);
  const good = await startOrigin(t, "good");
  const p = await startProxy(httpConfig("  - { listener: web, pool: p }", poolOf([bad.port, good.port])));
  t.after(() => p.close());
  const r = await get(p.port("web"), "/pay", { host: "a", method: "POST", body: "amount=10" });
  assert.equal(r.status, 502);
  assert.equal(bad.requests, 1);
  assert.equal(good.requests, 0, "never sent twice");
  const line = await p.session(0);
  assert.equal(line.error_code, "E_UPSTREAM_GONE");
  // A GET without a body on the same pool is retried (the rule is the method's, not the pool's).
  const g = await get(p.port("web"), "/", { host: "a" });
  assert.equal(g.status, 200);
});

test("a POST whose connect failed goes to the next server with its body intact", {
  timeout: 30_000,
}, async (t) => {
  let body = "";
  const good = await startOrigin(t, "good", (req, res) => {
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => res.end("done"));
  });
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: p }", poolOf([await deadPort(), good.port])),
  );
  t.after(() => p.close());
  const r = await get(p.port("web"), "/pay", { host: "a", method: "POST", body: "amount=10" });
  assert.equal(r.status, 200);
  assert.equal(body, "amount=10");
  assert.equal(good.requests, 1);
});

test("no response head within upstream_timeout: 504, and the server is reported", {
  timeout: 30_000,
}, async (t) => {
  const slow = await startOrigin(t, "slow", (req) => req.resume());
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: p }", poolOf([slow.port]), ", upstream_timeout: 300ms"),
  );
  t.after(() => p.close());
  const t0 = performance.now();
  const r = await get(p.port("web"), "/", { host: "a" });
  const ms = performance.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(ms >= 250 && ms < 5_000, `answered after ${ms.toFixed(0)} ms`);
  const line = await p.session(0);
  assert.equal(line.error_code, "E_UPSTREAM_TIMEOUT");
  assert.equal(p.proxy.runtime.registry.get(`127.0.0.1:${slow.port}`)?.failures, 1);
});

test("a burst of 5xx answers takes the server out for fail_timeout (passive health)", {
  timeout: 30_000,
}, async (t) => {
  const broken = await startOrigin(t, "broken", (req, res) => {
    req.resume();
    res.statusCode = 500;
    res.end("oops");
  });
  const fine = await startOrigin(t, "fine");
  const pools = pool("p", [broken.port, fine.port]).replace(
    "    balance: round-robin\n",
    "    balance: failover\n    max_fails: 3\n    fail_timeout: 30s\n",
  );
  const p = await startProxy(httpConfig("  - { listener: web, pool: p }", pools));
  t.after(() => p.close());
  // The 5xx answers are relayed as they are: the client sees the server's own error.
  for (let i = 0; i < 3; i++) assert.equal((await get(p.port("web"), "/", { host: "a" })).status, 500);
  const s = p.proxy.runtime.registry.get(`127.0.0.1:${broken.port}`);
  assert.ok(s && s.downUntil > Date.now(), "down after 3 in a row");
  const r = await get(p.port("web"), "/", { host: "a" });
  assert.equal(r.headers["x-origin"], "fine");
  assert.equal(broken.requests, 3);
});
