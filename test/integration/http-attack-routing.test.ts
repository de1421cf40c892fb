// Attacks above the wire: can a client steer a request to a pool its route should not reach,
// or past a route that answers with a status page, by the shape of its Host or request
// target? And can it strip or forge the forwarding fields the proxy builds (RFC 9110 §7.6)?
import assert from "node:assert/strict";
import { test } from "node:test";
import { pool } from "../helpers/http-origin.ts";
import { proxyWith, RawClient, type RawOrigin, startRawOrigin } from "../helpers/raw-http.ts";

/** A raw origin that answers every request "<name> <target>" with a length. */
function named(t: Parameters<typeof startRawOrigin>[0], name: string): Promise<RawOrigin> {
  return startRawOrigin(t, (h, c) => {
    const body = `${name} ${h.target}`;
    c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
}

// Fixed (host.ts, head.ts, facts.ts, rewrite.ts): a request whose target is in absolute-form is routed by the path of its target
// (RFC 9112 §3.2.2: a server MUST accept the absolute-form; §3.3: the target URI is then the
// request-target itself; README: path_prefix is "a prefix of the path"), so
// `GET http://a/admin` meets the `/admin` route's `status: stopped` (503) — actual: it is
// routed as if its path were "/" (host.ts requestPath), goes to the catch-all pool, and the
// origin is handed target `http://a/admin`: 200 from the pool the `/admin` route fences off.
test("an absolute-form target is routed by its own path: GET http://a/admin meets the /admin route", {
  timeout: 30_000,
}, async (t) => {
  const pub = await named(t, "public");
  const p = await proxyWith(
    t,
    `  - { listener: web, name: admin, match: { path_prefix: /admin }, service: admin, status: stopped }
  - { listener: web, name: public, pool: public }`,
    pool("public", [pub.port]),
  );
  const c = await RawClient.open(t, p.port("web"));
  // Control: the origin-form request is fenced off.
  const fenced = await c.request("GET /admin/users HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(fenced.status, 503, "origin-form /admin meets the stopped route");
  const r = await c.request("GET http://a/admin/users HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(
    r.status,
    503,
    `absolute-form http://a/admin/users: ${r.status} ${JSON.stringify(r.body.toString())}; the public origin saw ${JSON.stringify(pub.seen.map((s) => s.target))}`,
  );
  assert.equal(pub.seen.length, 0, "the public origin never sees an /admin request");
});

// Fixed (host.ts, head.ts, facts.ts, rewrite.ts): a path fence holds for every spelling of the same path. RFC 9110 §4.2.3: http URIs
// "are normalized and compared according to the method defined in Section 6 of [URI]"; RFC
// 3986 §6.2.2.2 (an unreserved character and its percent-encoding are equivalent: `%61` is
// `a`) and §6.2.2.3 (dot-segments removed) make `/%61dmin/users` and `/x/../admin/users` the
// same resource as `/admin/users`, which the `/admin` route answers 503 `stopped` — actual:
// both go to the catch-all pool (routes.ts firstPrefix: a raw string prefix on the target as
// sent; the README's "a plain string prefix of the path"), where any origin that normalises
// serves /admin. (A route on /admin with a pool of its own is bypassed the same way.)
// Fixed too (host.ts normalizePath merges empty segments): `//admin/users` went to the public
// pool, which nginx (merge_slashes, its default) and many frameworks serve as /admin/users.
test("a route on /admin also fences /%61dmin, /x/../admin and //admin (RFC 9110 §4.2.3 equivalents, merged slashes)", {
  timeout: 30_000,
}, async (t) => {
  const pub = await named(t, "public");
  const p = await proxyWith(
    t,
    `  - { listener: web, name: admin, match: { path_prefix: /admin }, service: admin, status: stopped }
  - { listener: web, name: public, pool: public }`,
    pool("public", [pub.port]),
  );
  const got: string[] = [];
  for (const target of [
    "/admin/users",
    "/%61dmin/users",
    "/x/../admin/users",
    "/%2e%2e/admin/users",
    "//admin/users",
    "/x//..//admin",
  ]) {
    const c = await RawClient.open(t, p.port("web"));
    const r = await c.request(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
    got.push(`${target} -> ${r.status}`);
  }
  assert.deepEqual(
    got,
    [
      "/admin/users -> 503",
      "/%61dmin/users -> 503",
      "/x/../admin/users -> 503",
      "/%2e%2e/admin/users -> 503",
      "//admin/users -> 503",
      "/x//..//admin -> 503",
    ],
    `the public origin was handed ${JSON.stringify(pub.seen.map((s) => s.target))}`,
  );
});

// Fixed (host.ts, head.ts, facts.ts, rewrite.ts): with an absolute-form target the Host field is ignored and the target's authority
// names the host (RFC 9112 §3.2.2: "MUST ignore the received Host header field ... and
// instead replace it with the host information of the request-target"; §3.3), so
// `GET http://b.example/ ` with `Host: a.example` goes to b.example's pool with `Host:
// b.example` — actual: routed by the Host field to a.example's pool, which gets `Host:
// a.example` and target `http://b.example/` (two parties, two different hosts).
test("an absolute-form target's authority wins over a different Host field", {
  timeout: 30_000,
}, async (t) => {
  const a = await named(t, "a");
  const b = await named(t, "b");
  const p = await proxyWith(
    t,
    `  - { listener: web, name: a, match: { host: a.example }, pool: a }
  - { listener: web, name: b, match: { host: b.example }, pool: b }`,
    pool("a", [a.port]) + pool("b", [b.port]),
  );
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request("GET http://b.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n");
  const seen = [
    ...a.seen.map((s) => `a: ${s.target} Host=${s.get("host")}`),
    ...b.seen.map((s) => `b: ${s.target} Host=${s.get("host")}`),
  ];
  assert.equal(r.status, 200);
  assert.match(
    r.body.toString(),
    /^b /,
    `answered by ${JSON.stringify(r.body.toString())}; origins saw ${JSON.stringify(seen)}`,
  );
  assert.equal(b.seen[0]?.get("host"), "b.example", "the Host forwarded is the target's authority");
});

// Fixed (host.ts, head.ts, facts.ts, rewrite.ts): a Host whose port is not digits is an invalid Host value (RFC 9110 §7.2 / RFC 3986
// §3.2.3: port = *DIGIT) and RFC 9112 §3.2 says a server "MUST respond with a 400 (Bad
// Request) ... to any request message that contains ... a Host header field with an invalid
// field value" — actual: `Host: a.example:x.b.example` and `Host: a.example:80:81` are
// routed (normalizeHost cuts at the first colon) to a.example's pool and forwarded as sent:
// 200, the origin reads a Host naming another authority.
test("a Host with a port that is not digits gets 400, not a.example's pool", {
  timeout: 30_000,
}, async (t) => {
  const a = await named(t, "a");
  const p = await proxyWith(
    t,
    "  - { listener: web, match: { host: a.example }, pool: a }",
    pool("a", [a.port]),
  );
  const got: string[] = [];
  for (const host of ["a.example:x.b.example", "a.example:80:81", "a.example:"]) {
    const c = await RawClient.open(t, p.port("web"));
    const r = await c.request(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    got.push(`${host} -> ${r.status}`);
  }
  // "a.example:" is valid (port = *DIGIT may be empty): it is the control.
  assert.deepEqual(
    got,
    ["a.example:x.b.example -> 400", "a.example:80:81 -> 400", "a.example: -> 200"],
    `origin saw Hosts ${JSON.stringify(a.seen.map((s) => s.get("host")))}`,
  );
});

// Fixed (host.ts, head.ts, facts.ts, rewrite.ts): a field the client names in Connection is hop-by-hop and an intermediary "MUST ...
// remove any header or trailer field(s) from the message with the same name as the
// connection-option" (RFC 9110 §7.6.1), so a client's `X-Forwarded-For: 203.0.113.9` and
// `Via: 1.0 forged` named in `Connection:` never reach the server, which reads only this
// hop's `X-Forwarded-For: 127.0.0.1` and `Via: 1.1 trunkline` — actual: both client values
// are carried on in front of the proxy's own (rewrite.ts kept(): X-Forwarded-For and Via are
// collected before the Connection list is consulted).
test("X-Forwarded-For and Via named in Connection are dropped, not carried into the proxy's own", {
  timeout: 30_000,
}, async (t) => {
  const o = await named(t, "o");
  const p = await proxyWith(t, "  - { listener: web, pool: a }", pool("a", [o.port]));
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request(
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, Via, X-Secret\r\nX-Forwarded-For: 203.0.113.9\r\nVia: 1.0 forged\r\nX-Secret: s\r\n\r\n",
  );
  assert.equal(r.status, 200);
  const h = o.seen[0];
  assert.ok(h);
  assert.equal(h.get("x-secret"), undefined, "control: a plain field named in Connection is dropped");
  assert.deepEqual(
    [h.get("x-forwarded-for"), h.get("via")],
    ["127.0.0.1", "1.1 trunkline"],
    `the server read ${JSON.stringify(h.head)}`,
  );
});

// Holds up: a client cannot strip what the proxy builds nor the Host by naming them in
// Connection, nor forge X-Forwarded-Proto/-Host (README: "this hop's").
test("Connection naming Host, X-Forwarded-Proto and X-Forwarded-Host strips none of them; forged values are replaced", {
  timeout: 30_000,
}, async (t) => {
  const o = await named(t, "o");
  const p = await proxyWith(
    t,
    "  - { listener: web, match: { host: app.example }, pool: a }",
    pool("a", [o.port]),
  );
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request(
    "GET / HTTP/1.1\r\nHost: App.Example:8080\r\nConnection: Host, X-Forwarded-Proto, X-Forwarded-Host, Content-Length\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: admin.internal\r\n\r\n",
  );
  assert.equal(r.status, 200);
  const h = o.seen[0];
  assert.ok(h);
  assert.equal(h.fields.filter(([n]) => n.toLowerCase() === "host").length, 1, h.head);
  assert.equal(h.get("host"), "App.Example:8080", "passed on as sent");
  assert.equal(h.get("x-forwarded-proto"), "http");
  assert.equal(h.get("x-forwarded-host"), "App.Example:8080");
  assert.equal(h.fields.filter(([n]) => /^x-forwarded-(proto|host)$/i.test(n)).length, 2, h.head);
});
