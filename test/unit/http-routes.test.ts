// Host normalisation and route choice (the shared contract of issue #14): exact host, then
// the longest wildcard suffix, then any host; the longest path prefix among equal hosts;
// then config order.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HttpRoute } from "../../src/protocols/http/config.ts";
import { normalizeHost, parseHostPattern, requestPath } from "../../src/protocols/http/host.ts";
import { HttpRoutes } from "../../src/protocols/http/routes.ts";

test("a Host header loses case, port, a trailing dot and a leading www.", () => {
  assert.equal(normalizeHost("WWW.App.Example.COM:8080"), "app.example.com");
  assert.equal(normalizeHost("app.example.com."), "app.example.com");
  assert.equal(normalizeHost("[::1]:80"), "[::1]");
  assert.equal(normalizeHost(undefined), "");
  assert.equal(normalizeHost("wwwx.test"), "wwwx.test");
});

test("host patterns: exact, *.suffix, invalid ones said why", () => {
  assert.deepEqual(parseHostPattern("*.Example.com"), { kind: "wildcard", suffix: ".example.com" });
  assert.deepEqual(parseHostPattern("www.app.test"), { kind: "exact", host: "app.test" });
  assert.equal(typeof parseHostPattern("a.*.test"), "string");
  assert.equal(typeof parseHostPattern("*."), "string");
});

test("the request path stops at the query; other target forms route as /", () => {
  assert.equal(requestPath("/api/x?y=/z"), "/api/x");
  assert.equal(requestPath("*"), "/");
  assert.equal(requestPath("//admin//x/"), "/admin/x/");
  assert.equal(requestPath("/a//"), "/a/");
  assert.equal(requestPath("//"), "/");
  assert.equal(requestPath("http://a/b"), "/");
});

let n = 0;
function route(name: string, host: string | undefined, prefix = ""): HttpRoute {
  const h = parseHostPattern(host);
  if (typeof h === "string") throw new Error(h);
  return {
    index: n++,
    name,
    listener: "web",
    protocol: "http",
    pool: "p",
    match: { host: h, pathPrefix: prefix },
    service: undefined,
    status: undefined,
    wake: [],
  };
}

test("exact before wildcard before any; longest prefix; then config order", () => {
  const t = new HttpRoutes([
    route("any", undefined),
    route("wild", "*.example.com"),
    route("wild-api", "*.example.com", "/api"),
    route("deep", "*.eu.example.com"),
    route("exact", "app.example.com"),
    route("exact-api", "app.example.com", "/api"),
    route("exact-api-2", "app.example.com", "/api"),
  ]);
  const f = (host: string, path = "/") => t.find("web", host, path)?.name;
  assert.equal(f("app.example.com"), "exact");
  assert.equal(f("app.example.com", "/api/v1"), "exact-api", "longest prefix, first in config");
  assert.equal(f("x.example.com", "/api"), "wild-api");
  assert.equal(f("x.eu.example.com", "/api"), "deep", "the longest suffix before a longer prefix");
  assert.equal(f("example.com"), "any");
  assert.equal(t.find("other", "app.example.com", "/"), undefined, "another listener's routes");
});

test("a host with no route and no catch-all finds nothing (404)", () => {
  const t = new HttpRoutes([route("exact", "a.test", "/x")]);
  assert.equal(t.find("web", "a.test", "/"), undefined);
  assert.equal(t.find("web", "b.test", "/x"), undefined);
});
