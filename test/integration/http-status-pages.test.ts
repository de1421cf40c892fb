// Status pages (issue #14, the shared contract): no route 404; starting and passivated 503
// with Retry-After; stopped 503; error 500; a pool with no routable server 503 with
// Retry-After; the page refreshes itself, and a listener's status_page replaces it (values
// HTML-escaped). A passivated route with wake keys emits http.wake, at most once per 5 s.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deadPort, get, httpConfig, pool } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";

const ROUTES = `  - { listener: web, name: starting, match: { host: starting.test }, service: svc-s, status: starting }
  - { listener: web, name: passive, match: { host: passive.test }, service: svc-p, status: passivated, wake: [ "/services/svc-p/1/status/expected" ] }
  - { listener: web, name: stopped, match: { host: stopped.test }, status: stopped }
  - { listener: web, name: error, match: { host: error.test }, status: error }
  - { listener: web, name: drained, match: { host: drained.test }, pool: down }
  - { listener: web, name: asleep, match: { host: asleep.test }, pool: down, status: passivated }`;

test("each service status gets its code and the self-refreshing page", { timeout: 30_000 }, async (t) => {
  const p = await startProxy(httpConfig(ROUTES, pool("down", [await deadPort()])));
  t.after(() => p.close());
  const port = p.port("web");
  // The down pool's one server is drained by the operator: nothing routable, no try made.
  const key = p.proxy.runtime.generation.pools.get("down")?.servers[0]?.key as string;
  p.proxy.runtime.registry.get(key)?.setOperator({ admin: "drain", weight: undefined }, "test");
  const cases: [string, number, boolean][] = [
    ["nowhere.test", 404, false],
    ["starting.test", 503, true],
    ["passive.test", 503, true],
    ["stopped.test", 503, false],
    ["error.test", 500, false],
    ["drained.test", 503, true],
    ["asleep.test", 503, true],
  ];
  for (const [host, code, retry] of cases) {
    const r = await get(port, "/", { host });
    assert.equal(r.status, code, host);
    assert.equal(r.headers["retry-after"], retry ? "5" : undefined, host);
    assert.match(r.headers["content-type"] ?? "", /^text\/html/);
    assert.match(r.body, /<meta http-equiv="refresh" content="5">/, host);
  }
  const s = await get(port, "/", { host: "starting.test" });
  assert.match(s.body, /svc-s: starting/);
  assert.equal(p.proxy.runtime.registry.get(key)?.failures, 0, "a drained server is never tried");
});

test("a listener's status_page template replaces the page, values HTML-escaped", {
  timeout: 30_000,
}, async (t) => {
  const tpl = "<p>{{code}}|{{status}}|{{host}}|{{service}}|{{message}}</p>";
  const p = await startProxy(
    httpConfig(
      '  - { listener: web, match: { host: "*.test" }, service: "<b>&svc</b>", status: stopped }',
      pool("unused", [await deadPort()]),
      ", status_page: page.html",
    ),
    { files: { "page.html": tpl } },
  );
  t.after(() => p.close());
  const r = await get(p.port("web"), "/", { host: "a<x>.test" });
  assert.equal(r.status, 503);
  assert.equal(
    r.body,
    "<p>503|stopped|a&lt;x&gt;.test|&lt;b&gt;&amp;svc&lt;/b&gt;|The service is stopped.</p>",
  );
});

test("a request to a passivated route emits http.wake, at most once per route per 5 s", {
  timeout: 30_000,
}, async (t) => {
  const p = await startProxy(httpConfig(ROUTES, pool("down", [await deadPort()])));
  t.after(() => p.close());
  const wakes: { route: string; service: string | undefined; keys: readonly string[] }[] = [];
  const off = p.proxy.events.on("http.wake", (e) => wakes.push(e));
  t.after(off);
  for (let i = 0; i < 10; i++)
    assert.equal((await get(p.port("web"), `/${i}`, { host: "passive.test" })).status, 503);
  assert.equal((await get(p.port("web"), "/", { host: "starting.test" })).status, 503);
  assert.deepEqual(wakes, [
    { listener: "web", route: "passive", service: "svc-p", keys: ["/services/svc-p/1/status/expected"] },
  ]);
});
