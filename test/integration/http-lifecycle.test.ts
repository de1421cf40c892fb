// An HTTP listener's life (issue #14): drain lets a request in flight finish while new
// connections are refused; a reload adds a route to the running listener; an http health
// check takes a failing server out; the metrics count requests by route, pool, server and
// status class, and the access log line says what was asked and answered.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import type { HttpListener } from "../../src/protocols/http/listener.ts";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { parsePromText, value } from "../helpers/prom-text.ts";
import { startProxy, until } from "../helpers/proxy.ts";

test("drain: the request in flight is answered, new connections are refused", {
  timeout: 30_000,
}, async (t) => {
  let release: (() => void) | undefined;
  const origin = await startOrigin(t, "slow", (req, res) => {
    req.resume();
    release = () => res.end("late but whole");
  });
  const p = await startProxy(httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port])));
  t.after(() => p.close());
  const port = p.port("web");
  const l = p.proxy.runtime.listener("web") as HttpListener;
  const inFlight = get(port, "/", { host: "a" });
  await until(() => release !== undefined, 5_000, "request at the origin");
  assert.equal(l.sessions, 1);
  const drained = l.drain(Date.now() + 10_000);
  await until(() => l.address === undefined, 5_000, "listening socket closed");
  const refused = await new Promise<string>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => resolve("connected"));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
  assert.equal(refused, "ECONNREFUSED");
  release?.();
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.body, "late but whole");
  assert.equal(r.headers.connection, "close", "the connection ends with the answer");
  await drained;
  assert.equal(l.sessions, 0);
});

test("a reload adds a route to the running listener", { timeout: 30_000 }, async (t) => {
  const a = await startOrigin(t, "a");
  const b = await startOrigin(t, "b");
  const one = `  - { listener: web, match: { host: a.test }, pool: a }\n`;
  const two = `${one}  - { listener: web, match: { host: b.test }, pool: b }\n`;
  const pools = pool("a", [a.port]) + pool("b", [b.port]);
  const p = await startProxy(httpConfig(one, pools));
  t.after(() => p.close());
  const port = p.port("web");
  assert.equal((await get(port, "/", { host: "b.test" })).status, 404);
  p.writeConfig(httpConfig(two, pools));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  assert.equal(p.port("web"), port, "same socket");
  const r = await get(port, "/", { host: "b.test" });
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-origin"], "b");
});

test("an http health check takes a server whose /healthz fails out of the pool", {
  timeout: 30_000,
}, async (t) => {
  let healthy = true;
  let checks = 0;
  const handler = (name: string) =>
    startOrigin(t, name, (req, res) => {
      req.resume();
      if (req.url === "/healthz") {
        checks++;
        res.statusCode = name === "sick" && !healthy ? 500 : 200;
        res.end();
        return;
      }
      res.setHeader("x-origin", name);
      res.end(name);
    });
  const sick = await handler("sick");
  const fine = await handler("fine");
  const extra =
    "    health: { interval: 100ms, timeout: 1s, rise: 1, fall: 1, checks: [ { http: /healthz, expect: 200 } ] }\n";
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: p }", pool("p", [sick.port, fine.port], extra)),
  );
  t.after(() => p.close());
  const s = () => p.proxy.runtime.registry.get(`127.0.0.1:${sick.port}`);
  await until(() => checks >= 2, 5_000, "checks running");
  assert.equal(s()?.health, "up");
  healthy = false;
  await until(() => s()?.health === "down", 5_000, "sick marked down");
  assert.match(s()?.healthReason ?? "", /answered 500, expected 200/);
  const served = () => sick.seen.filter((x) => x.url !== "/healthz").length;
  const before = served();
  for (let i = 0; i < 6; i++)
    assert.equal((await get(p.port("web"), "/", { host: "x" })).headers["x-origin"], "fine");
  assert.equal(served() - before, 0, "no request to the down server (health checks aside)");
});

test("metrics by route, pool, server and status class; the access log line", {
  timeout: 30_000,
}, async (t) => {
  const a = await startOrigin(t, "a", (req, res) => {
    req.resume();
    res.statusCode = req.url === "/missing" ? 404 : 200;
    res.end();
  });
  const p = await startProxy(
    httpConfig("  - { listener: web, name: app, match: { host: a.test }, pool: a }\n", pool("a", [a.port])),
  );
  t.after(() => p.close());
  const port = p.port("web");
  for (let i = 0; i < 3; i++) await get(port, "/ok", { host: "a.test" });
  await get(port, "/missing", { host: "a.test" });
  await get(port, "/", { host: "nowhere.test" });
  await until(() => p.sessions().length === 5, 5_000, "five lines");
  const m = p.proxy.metrics;
  assert.ok(m);
  const e = parsePromText(await m.text());
  const server = `127.0.0.1:${a.port}`;
  const base = { listener: "web", route: "app", pool: "a", server };
  assert.equal(value(e, "trunkline_http_requests_total", { ...base, code_class: "2xx" }), 3);
  assert.equal(value(e, "trunkline_http_requests_total", { ...base, code_class: "4xx" }), 1);
  assert.equal(
    value(e, "trunkline_http_requests_total", {
      listener: "web",
      route: "",
      pool: "",
      server: "",
      code_class: "4xx",
    }),
    1,
  );
  assert.equal(
    value(e, "trunkline_http_request_duration_seconds_count", {
      listener: "web",
      route: "app",
      code_class: "2xx",
    }),
    3,
  );
  const line = p.sessions().find((l) => l.path === "/missing");
  assert.ok(line);
  assert.equal(line.method, "GET");
  assert.equal(line.host, "a.test");
  assert.equal(line.status, 404);
  assert.equal(line.server, server);
  assert.equal(line.answered_by, "upstream");
});
