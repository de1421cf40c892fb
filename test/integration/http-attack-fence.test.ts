// Attacks on a path fence by request targets that routing read as `/`: a path with
// backslashes (`/x\..\admin`, which servers on Windows and many frameworks read as
// `/admin`) and absolute-form targets of other schemes (`ftp://`, `ws://`, `file:///`).
// RFC 9112 §3.2: a target is origin-form, http(s) absolute-form, or `*` for OPTIONS;
// anything else is a bad request, refused before routing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pool } from "../helpers/http-origin.ts";
import { answer, proxyWith, RawClient, startRawOrigin, UPGRADE } from "../helpers/raw-http.ts";

const ROUTES = `  - { listener: web, name: admin, match: { path_prefix: /admin }, service: admin, status: stopped }
  - { listener: web, name: public, pool: public }`;

// DEFECT: each of these routed as `/` to the public pool, past the route that fences /admin.
for (const target of [
  "/x\\..\\admin",
  "/\\admin",
  "ftp://a/admin",
  "ws://a/admin",
  "file:///admin",
  "admin",
]) {
  test(`GET ${target}: 400 before routing, never at the public origin`, { timeout: 15_000 }, async (t) => {
    const pub = await startRawOrigin(t, (h, c) => c.sock.write(answer(200, "OK", `public ${h.target}`)));
    const p = await proxyWith(t, ROUTES, pool("public", [pub.port]));
    const c = await RawClient.open(t, p.port("web"));
    const r = await c.request(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
    t.diagnostic(`GET ${target}: ${r.status} ${JSON.stringify(r.body.toString())}`);
    assert.equal(r.status, 400, `${r.status} ${JSON.stringify(r.body.toString())}`);
    // The same proxy still routes a plain request, on a new connection (a 400 closes its own).
    const ok = await (await RawClient.open(t, p.port("web"))).request("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(ok.status, 200);
    assert.deepEqual(
      pub.seen.map((s) => s.target),
      ["/ok"],
    );
  });
}

test("an Upgrade to /x\\..\\admin: 400, never tunnelled to the public origin", {
  timeout: 15_000,
}, async (t) => {
  const pub = await startRawOrigin(t, (_h, c) => c.sock.write(answer(200, "OK", "public")));
  const p = await proxyWith(t, ROUTES, pool("public", [pub.port]));
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request(UPGRADE("/x\\..\\admin"));
  assert.equal(r.status, 400);
  assert.equal(pub.seen.length, 0);
});

// Holds up: OPTIONS * (asterisk-form) and http absolute-form still pass.
test("OPTIONS * and GET http://a/x still reach the origin", { timeout: 15_000 }, async (t) => {
  const pub = await startRawOrigin(t, (h, c) => c.sock.write(answer(200, "OK", `public ${h.target}`)));
  const p = await proxyWith(t, ROUTES, pool("public", [pub.port]));
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS")).status, 200);
  assert.equal((await c.request("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n")).status, 200);
  assert.deepEqual(
    pub.seen.map((s) => s.target),
    ["*", "/x"],
  );
});
