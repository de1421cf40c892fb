import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfigText as parseConfig } from "../../src/app/config.ts";
import { buildGeneration } from "../../src/app/runtime.ts";
import { type AgiRequest, fullUrl, queryParams, splitAgiUrl } from "../../src/protocols/fastagi/request.ts";
import { decide } from "../../src/protocols/fastagi/router.ts";
import type { FastAgiRoutes } from "../../src/protocols/fastagi/routes.ts";
import { ServerRegistry } from "../../src/servers/registry.ts";

function req(url: string, vars: Record<string, string> = {}): AgiRequest {
  const parts = splitAgiUrl(url)!;
  return { ...parts, vars: new Map(Object.entries({ agi_request: url, ...vars })) };
}

const BASE = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  ivr: { servers: [ { address: 127.0.0.1:1 } ] }
  fr: { servers: [ { address: 127.0.0.1:2 } ] }
  default: { servers: [ { address: 127.0.0.1:3 } ] }
`;

async function route(routes: string, r: AgiRequest, dir?: string) {
  const file = dir ? join(dir, "c.yaml") : "t.yaml";
  const s = parseConfig(`${BASE}routes:\n${routes}`, file);
  const gen = buildGeneration(s, new ServerRegistry(() => {}));
  try {
    return await decide((gen.routes("fastagi") as FastAgiRoutes).table, "agi", r);
  } finally {
    for (const x of gen.routers.values()) await x.close();
  }
}

test("path, query and header matching; the first match wins", async () => {
  const routes = `
  - { listener: agi, match: { path: ^/ivr/, query: { lang: ^fr$ } }, pool: fr }
  - { listener: agi, match: { path: ^/ivr/, header: { agi_context: ^inbound } }, pool: ivr }
  - { listener: agi, pool: default }
`;
  const a = await route(routes, req("agi://h:4573/ivr/menu?lang=fr"));
  assert.ok(a.kind === "pool" && a.pool === "fr");
  const b = await route(routes, req("agi://h:4573/ivr/menu?lang=de", { agi_context: "inbound-sip" }));
  assert.ok(b.kind === "pool" && b.pool === "ivr");
  const c = await route(routes, req("agi://h:4573/ivr/menu?lang=de", { agi_context: "outbound" }));
  assert.ok(c.kind === "pool" && c.pool === "default");
});

test("rewrite with named groups, numbered groups and header variables; query kept unless given", async () => {
  const r1 = await route(
    `  - { listener: agi, match: { path: "^/ivr/(?<app>[a-z]+)$" }, rewrite: "/apps/$<app>", pool: ivr }\n`,
    req("agi://h:4573/ivr/menu?lang=fr"),
  );
  assert.ok(r1.kind === "pool");
  assert.equal(fullUrl(r1.request), "agi://h:4573/apps/menu?lang=fr");
  const r2 = await route(
    `  - { listener: agi, match: { path: "^/(\\\\w+)/(\\\\w+)$" }, rewrite: "/$2/$1?cid=\${agi_callerid}", pool: ivr }\n`,
    req("agi://h/a/b?old=1", { agi_callerid: "555" }),
  );
  assert.ok(r2.kind === "pool");
  assert.equal(fullUrl(r2.request), "agi://h/b/a?cid=555");
});

test("rewrite encodes header values: a caller name adds no parameter, + stays +, path captures stay URL text", async () => {
  const r = await route(
    `  - { listener: agi, match: { path: "^/ivr/(?<app>[^/]+)$" }, rewrite: "/apps/$<app>?name=\${agi_calleridname}&cid=\${agi_callerid}", pool: ivr }\n`,
    req("agi://h:4573/ivr/main%20menu?old=1", { agi_calleridname: "Bob&admin=1", agi_callerid: "+4930123" }),
  );
  assert.ok(r.kind === "pool");
  assert.equal(fullUrl(r.request), "agi://h:4573/apps/main%20menu?name=Bob%26admin%3D1&cid=%2B4930123");
  assert.deepEqual(
    queryParams(r.request.query),
    new Map([
      ["name", "Bob&admin=1"],
      ["cid", "+4930123"],
    ]),
  );
});

test("a ? in a header value in the rewritten path starts no query: the request's query is kept", async () => {
  const r = await route(
    `  - { listener: agi, match: { path: ^/by-name$ }, rewrite: "/n/\${agi_calleridname}", pool: ivr }\n`,
    req("agi://h/by-name?lang=fr", { agi_calleridname: "a?b=1/c" }),
  );
  assert.ok(r.kind === "pool");
  assert.equal(r.request.path, "/n/a%3Fb%3D1%2Fc");
  assert.equal(r.request.query, "lang=fr");
});

test("a re-injected request is matched on its encoded path, as on any raw path", async () => {
  const routes = `
  - { listener: agi, match: { path: ^/old$ }, rewrite: "/cid/\${agi_callerid}", reinject: true }
  - { listener: agi, match: { path: ^/cid/%2B49 }, pool: fr }
  - { listener: agi, pool: default }
`;
  const r = await route(routes, req("agi://h/old", { agi_callerid: "+4930123" }));
  assert.ok(r.kind === "pool" && r.pool === "fr" && r.hops === 1);
  assert.equal(r.request.path, "/cid/%2B4930123");
});

test("reinject: the rewritten request re-enters the routes, bounded", async () => {
  const routes = `
  - { listener: agi, match: { path: ^/old/(?<rest>.*)$ }, rewrite: /new/$<rest>, reinject: true }
  - { listener: agi, match: { path: ^/new/ }, pool: fr }
  - { listener: agi, pool: default }
`;
  const r = await route(routes, req("agi://h/old/menu"));
  assert.ok(r.kind === "pool" && r.pool === "fr" && r.hops === 1);
  assert.equal(r.request.path, "/new/menu");
  const loop = await route(
    `  - { listener: agi, match: { path: ^/x }, rewrite: /x, reinject: true, pool: ivr }\n`,
    req("agi://h/x"),
  );
  assert.equal(loop.kind, "error");
  assert.match(loop.kind === "error" ? loop.message : "", /re-injected more than/);
});

test("to: sends straight to a target and takes its path", async () => {
  const r = await route(
    `  - { listener: agi, match: { path: ^/legacy }, to: "agi://10.0.0.9:4573/legacy2" }\n`,
    req("agi://h/legacy?x=1"),
  );
  assert.ok(r.kind === "target");
  assert.equal(r.target.authority, "10.0.0.9:4573");
  assert.equal(fullUrl(r.request), "agi://10.0.0.9:4573/legacy2");
});

test("no match is 'none'", async () => {
  const r = await route(`  - { listener: agi, match: { path: ^/only }, pool: ivr }\n`, req("agi://h/other"));
  assert.equal(r.kind, "none");
});

test("route scripts: pool, target, nothing, throw, slow and endless loop end in errors, never a crash", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tl-script-"));
  writeFileSync(
    join(dir, "route.mjs"),
    `export default (r) => r.params.q === "pool" ? "fr" : r.params.q === "to" ? { to: "agi://127.0.0.1:9/x" } : r.params.q === "throw" ? (() => { throw new Error("boom") })() : r.params.q === "slow" ? new Promise((res) => setTimeout(() => res("fr"), 2000)) : r.params.q === "loop" ? (() => { for (;;) {} })() : r.params.q === "bad" ? "nope" : undefined;\n`,
  );
  const routes = `  - { listener: agi, script: ./route.mjs, script_timeout: 300ms }\n  - { listener: agi, pool: default }\n`;
  const at = async (q: string) => route(routes, req(`agi://h/s?q=${q}`), dir);
  const p = await at("pool");
  assert.ok(p.kind === "pool" && p.pool === "fr");
  const t = await at("to");
  assert.ok(t.kind === "target" && t.target.authority === "127.0.0.1:9");
  const n = await at("none");
  assert.ok(n.kind === "pool" && n.pool === "default");
  for (const [q, why] of [
    ["throw", /boom/],
    ["slow", /did not answer within 300ms/],
    ["loop", /did not answer within 300ms/],
    ["bad", /unknown pool "nope"/],
  ] as const) {
    const started = Date.now();
    const e = await at(q);
    assert.equal(e.kind, "error", q);
    assert.match(e.kind === "error" ? e.message : "", why);
    assert.ok(Date.now() - started < 1500, `${q} bounded`);
  }
});
