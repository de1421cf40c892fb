// HTTP routing (issue #14): by Host (exact, then the longest wildcard suffix, port and a
// leading www. ignored), then the longest path prefix; an unknown host gets 404.
import assert from "node:assert/strict";
import { test } from "node:test";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";

test("requests go to the route of their host and longest path prefix", { timeout: 30_000 }, async (t) => {
  const [app, api, wild, deep, any] = await Promise.all(
    ["app", "api", "wild", "deep", "any"].map((n) => startOrigin(t, n)),
  );
  assert.ok(app && api && wild && deep && any);
  const p = await startProxy(
    httpConfig(
      `  - { listener: web, name: app, match: { host: app.example.com }, pool: app }
  - { listener: web, name: api, match: { host: app.example.com, path_prefix: /api }, pool: api }
  - { listener: web, name: wild, match: { host: "*.example.com" }, pool: wild }
  - { listener: web, name: deep, match: { host: "*.eu.example.com" }, pool: deep }
  - { listener: web, name: any, match: { host: other.test }, pool: any }`,
      pool("app", [app.port]) +
        pool("api", [api.port]) +
        pool("wild", [wild.port]) +
        pool("deep", [deep.port]) +
        pool("any", [any.port]),
    ),
  );
  t.after(() => p.close());
  const port = p.port("web");
  const origin = async (host: string, path = "/") => {
    const r = await get(port, path, { host });
    return r.status === 200 ? (r.headers["x-origin"] as string) : String(r.status);
  };
  assert.equal(await origin("app.example.com"), "app");
  assert.equal(await origin("APP.example.com:8080", "/index.html"), "app", "case and port ignored");
  assert.equal(await origin("www.app.example.com"), "app", "leading www. ignored");
  assert.equal(await origin("app.example.com", "/api/v1/users"), "api", "longest prefix");
  assert.equal(await origin("x.example.com"), "wild");
  assert.equal(await origin("a.b.eu.example.com"), "deep", "longest wildcard suffix");
  assert.equal(await origin("example.com"), "404", "a wildcard does not match its bare suffix");
  assert.equal(await origin("nowhere.test"), "404");
  assert.equal(await origin("other.test"), "any");
  // The log line of each request: method, host, path, status.
  const line = await p.session(0);
  assert.equal(line.outcome, "200");
});
