// Defects of the HTTP listener's own HTTP/1.1 (wire/) and its Upgrade relay found by the second
// round of attacks (http-wire-edges.test.ts), each fixed, each test failing on the code before:
// a refused upgrade became a raw tunnel past routing; bytes after a bodiless answer in the same
// read were dropped and the connection reused; an answer head with bare LFs waited for
// upstream_timeout; a 101 split over two reads was logged as aborted; a server that took no
// byte of an upload was not bounded by upstream_timeout.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pool, startOrigin } from "../helpers/http-origin.ts";
import { until } from "../helpers/proxy.ts";
import {
  answer,
  GET,
  proxyWith,
  RawClient,
  SWITCHING,
  startRawOrigin,
  startTunnelOrigin,
  UPGRADE,
} from "../helpers/raw-http.ts";

// Defect 1 (fixed): after the server refuses an upgrade (any answer but 101), the client connection stays
// a raw tunnel to that server: the client's next request goes to it unrouted, without
// X-Forwarded-For and the other forwarding fields (a route or client-address check bypassed).

test("after a server answers an upgrade with 404, the client's next request is routed by the proxy, not tunnelled", {
  timeout: 30_000,
}, async (t) => {
  const refusing = await startTunnelOrigin(t, (_head, c) => c.sock.write(answer(404, "Not Found", "no ws")));
  const other = await startOrigin(t, "other");
  const routes = [
    "  - { listener: web, match: { host: ws.test }, pool: ws }",
    "  - { listener: web, match: { host: other.test }, pool: other }",
  ].join("\n");
  const p = await proxyWith(t, routes, pool("ws", [refusing.port]) + pool("other", [other.port]));
  const c = await RawClient.open(t, p.port("web"));
  c.write(UPGRADE("/ws", "ws.test"));
  const r = await c.response();
  assert.equal(r.status, 404);
  c.write("GET /admin HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n");
  const tunnelled = () => refusing.conns[0]?.bytes.includes("GET /admin") ?? false;
  await until(() => tunnelled() || other.requests > 0 || c.ended, 3_000, "the next request handled").catch(
    () => {},
  );
  assert.equal(
    tunnelled(),
    false,
    `the next request went raw to the server that refused the upgrade: ${JSON.stringify(
      refusing.conns[0]?.bytes.toString("latin1").slice(refusing.conns[0].headEnd),
    )}`,
  );
  // Either routed (to other.test's server, with the proxy's forwarding fields) or refused.
  if (!c.ended) {
    const next = await c.response();
    assert.equal(next.status, 200);
    assert.equal(other.seen[0]?.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
  }
});

// Defect 2 (fixed): bytes that come in the same read as a bodiless answer (204, 304, an answer to HEAD,
// Content-Length: 0) are dropped unseen and the connection goes back to the pool: the server
// said more than its answer, and the connection is reused anyway (UpstreamCall.#begin
// completes the call before the bytes after the head are looked at; the `f.kind === "none"`
// branch of #bodyBytes that would mark them is never reached).

for (const [what, method, head] of [
  ["204", "GET", "HTTP/1.1 204 No Content\r\n\r\n"],
  ["304", "GET", 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'],
  ["an answer to HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"],
  ["Content-Length: 0", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
] as const) {
  test(`bytes in the same read as ${what}: the connection is not reused for the next request`, {
    timeout: 30_000,
  }, async (t) => {
    const origin = await startRawOrigin(t, (h, c) => {
      if (h.target === "/first") c.sock.write(`${head}${answer(200, "OK", "SECOND")}`);
      else c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`));
    });
    const p = await proxyWith(t, "  - { listener: web, pool: a }", pool("a", [origin.port]));
    const c = await RawClient.open(t, p.port("web"));
    c.write(`${method} /first HTTP/1.1\r\nHost: a\r\n\r\n`);
    await c.response(method);
    const next = await c.request(GET("/next"));
    assert.ok(!c.all.includes("SECOND"));
    assert.equal(
      next.body.toString(),
      "conn 1 /next",
      "the connection that sent bytes after its bodiless answer was reused",
    );
  });
}

// Defect 3 (fixed): an answer head whose lines end in a bare LF only (no CRLF anywhere) is never found
// whole (the head's end is searched as CRLFCRLF): a server that keeps its connection open gets
// the client a 504 after upstream_timeout, counted as a timeout, instead of a 502 at once.

test("an answer head with bare LF line ends only: 502 at once, not 504 after upstream_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.write("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"));
  const p = await proxyWith(
    t,
    "  - { listener: web, pool: a }",
    pool("a", [origin.port]),
    ", upstream_timeout: 2s",
  );
  const c = await RawClient.open(t, p.port("web"));
  const t0 = performance.now();
  const r = await c.request(GET("/lf"), "GET", 6_000);
  const ms = performance.now() - t0;
  const line = await p.session(0);
  assert.equal(r.status, 502, `${r.status} after ${ms.toFixed(0)} ms, ${String(line.error_code)}`);
  assert.ok(ms < 2_000, `502 after ${ms.toFixed(0)} ms`);
});

// Defect 4 (fixed): the upgrade's log line takes the status from the first read of the server's answer
// only; a status line split across reads logs status 0, outcome "aborted", as a warning.

test("an upgrade whose 101 status line arrives in two reads is logged as 101", {
  timeout: 30_000,
}, async (t) => {
  // "HTTP/1.1 1" first; the rest once the kernel took that (two segments, most often two reads
  // by the proxy, which must join them before it reads a status).
  const origin = await startTunnelOrigin(t, (_head, c) =>
    c.sock.write(SWITCHING.slice(0, 10), () => c.sock.write(SWITCHING.slice(10))),
  );
  const p = await proxyWith(t, "  - { listener: web, pool: a }", pool("a", [origin.port]));
  const c = await RawClient.open(t, p.port("web"));
  c.write(UPGRADE("/ws"));
  await c.until(() => c.all.includes("\r\n\r\n"), 5_000, "the whole 101");
  assert.equal(c.all.toString("latin1"), SWITCHING);
  c.sock.end();
  const line = await p.session(0);
  assert.equal(line.outcome, "101");
  assert.equal(line.level, "info");
});

// Defect 5 (fixed): a server that stops reading a request body and never answers holds the request until
// request_timeout (5 min by default) and the client is then blamed with 408: upstream_timeout
// is not checked while the body is still being sent (UpstreamCall.check returns while
// !#sentAll), and no other bound covers a server that takes no byte.

test("a server that reads no byte of a large upload and never answers: 504 after upstream_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.pause());
  const p = await proxyWith(
    t,
    "  - { listener: web, pool: a }",
    pool("a", [origin.port]),
    ", upstream_timeout: 500ms, request_timeout: 15s",
  );
  const c = await RawClient.open(t, p.port("web"));
  const total = 32 * 1024 * 1024;
  c.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
  const piece = Buffer.alloc(1024 * 1024, 0x61);
  for (let i = 0; i < total / piece.length; i++) c.sock.write(piece);
  const t0 = performance.now();
  const r = await c.response("POST", 6_000).catch((e: Error) => {
    throw new Error(
      `no answer after ${(performance.now() - t0).toFixed(0)} ms (${e.message}); the client has ${c.sock.writableLength} bytes unsent`,
    );
  });
  assert.equal(r.status, 504, `${r.status} after ${(performance.now() - t0).toFixed(0)} ms`);
  const line = await p.session(0);
  assert.equal(line.error_code, "E_UPSTREAM_TIMEOUT");
});
