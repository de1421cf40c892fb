// Cross-site request forgery against the loopback admin API without a token (the default):
// a page open in the operator's browser may send "simple" cross-origin requests (no preflight:
// text/plain, application/x-www-form-urlencoded or multipart/form-data, no custom header).
// The browser sends them with its Origin and Sec-Fetch-Site; the page cannot read the answer,
// but the side effect happens. A production admin API refuses them (needs a JSON content type
// or a custom header, or checks Origin / Sec-Fetch-Site), and never grants CORS.
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminConfig, adminTarget, CROSS_SITE, json, req, SERVER_A } from "../helpers/admin-attack.ts";

const host = (port: number): [string, string] => ["Host", `127.0.0.1:${port}`];

// A defect found by attacking the API, fixed: a cross-site text/plain POST with an empty body drains a server (server.ts/http.ts check neither content type nor Origin).
test("a cross-site text/plain POST (no preflight) cannot drain a server on the token-less loopback API", async (t) => {
  const a = await adminTarget(t);
  const r = await a.send(
    req(
      "POST",
      `/api/v1/pools/main/servers/${SERVER_A}/drain`,
      [host(a.port), ...CROSS_SITE, ["Content-Type", "text/plain;charset=UTF-8"]],
      "",
    ),
    "POST",
  );
  assert.equal(a.server().admin, "ready", `the forged drain was applied (answer ${r.status})`);
  assert.ok(r.status === 403 || r.status === 415, `refused with 403 or 415, got ${r.status}`);
});

// A defect found by attacking the API, fixed: a cross-site text/plain POST whose body is JSON sets a server's weight to 0 (readJson parses any content type).
test("a cross-site text/plain POST with a JSON-looking body cannot set a weight", async (t) => {
  const a = await adminTarget(t);
  const r = await a.send(
    req(
      "POST",
      `/api/v1/pools/main/servers/${SERVER_A}/weight`,
      [host(a.port), ...CROSS_SITE, ["Content-Type", "text/plain;charset=UTF-8"]],
      '{"weight":0}',
    ),
    "POST",
  );
  assert.equal(a.server().operatorWeight, undefined, `the forged weight was applied (answer ${r.status})`);
  assert.ok(r.status === 403 || r.status === 415, `refused with 403 or 415, got ${r.status}`);
});

// A defect found by attacking the API, fixed: a cross-site form POST (application/x-www-form-urlencoded, empty form) puts a server in maint.
test("a cross-site HTML form POST (x-www-form-urlencoded, empty) cannot put a server in maint", async (t) => {
  const a = await adminTarget(t);
  const r = await a.send(
    req(
      "POST",
      `/api/v1/pools/main/servers/${SERVER_A}/maint`,
      [
        host(a.port),
        ["Origin", "null"],
        ["Sec-Fetch-Site", "cross-site"],
        ["Sec-Fetch-Mode", "navigate"],
        ["Sec-Fetch-Dest", "document"],
        ["Content-Type", "application/x-www-form-urlencoded"],
      ],
      "",
    ),
    "POST",
  );
  assert.equal(a.server().admin, "ready", `the forged maint was applied (answer ${r.status})`);
  assert.ok(r.status === 403 || r.status === 415, `refused with 403 or 415, got ${r.status}`);
});

// A defect found by attacking the API, fixed: a cross-site text/plain POST to /api/v1/reload makes the proxy read and apply its config file.
test("a cross-site text/plain POST cannot trigger a reload", async (t) => {
  const a = await adminTarget(t);
  // An edit the operator has saved but not yet meant to apply.
  a.p.writeConfig(adminConfig(undefined, "shutdown_timeout: 7s"));
  const r = await a.send(
    req("POST", "/api/v1/reload", [host(a.port), ...CROSS_SITE, ["Content-Type", "text/plain"]], ""),
    "POST",
  );
  assert.equal(a.generation(), 1, `the forged reload was applied (answer ${r.status} ${r.body})`);
  assert.ok(r.status === 403 || r.status === 415, `refused with 403 or 415, got ${r.status}`);
});

// Covers what no other test does (passes): no CORS grant, so a page never reads an answer or preflights a JSON POST.
test("no CORS: a preflight for a JSON POST is not approved and no answer carries Access-Control-Allow-*", async (t) => {
  const a = await adminTarget(t);
  const pre = await a.send(
    req("OPTIONS", `/api/v1/pools/main/servers/${SERVER_A}/drain`, [
      host(a.port),
      ["Origin", "http://evil.example"],
      ["Access-Control-Request-Method", "POST"],
      ["Access-Control-Request-Headers", "content-type, authorization"],
    ]),
    "OPTIONS",
  );
  assert.ok(pre.status >= 400, `the preflight is refused, got ${pre.status}`);
  const get = await a.send(req("GET", "/api/v1/status", [host(a.port), ["Origin", "http://evil.example"]]));
  assert.equal(get.status, 200);
  for (const r of [pre, get])
    for (const [n] of r.fields)
      assert.doesNotMatch(n, /^access-control-/i, `no CORS header (${n}: ${r.get(n.toLowerCase())})`);
  assert.equal(a.server().admin, "ready");
});

// Covers what no other test does (passes): GETs have no side effects, on the change paths too.
test("GET on the change and reload paths changes nothing", async (t) => {
  const a = await adminTarget(t);
  for (const path of [
    `/api/v1/pools/main/servers/${SERVER_A}/drain`,
    `/api/v1/pools/main/servers/${SERVER_A}/maint`,
    `/api/v1/pools/main/servers/${SERVER_A}/weight?weight=0`,
    "/api/v1/reload",
  ]) {
    const r = await a.send(req("GET", path, [host(a.port), ...CROSS_SITE]));
    assert.equal(r.status, 404, path);
    assert.equal(typeof (json(r).error as { code?: string })?.code, "string");
  }
  a.p.writeConfig(adminConfig(undefined, "shutdown_timeout: 7s"));
  await a.send(req("GET", "/api/v1/reload", [host(a.port)]));
  assert.equal(a.server().admin, "ready");
  assert.equal(a.server().operatorWeight, undefined);
  assert.equal(a.generation(), 1);
});
