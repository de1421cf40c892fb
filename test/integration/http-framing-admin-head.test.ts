// HEAD on the admin API (RFC 9110 §9.3.2): wherever GET is served, HEAD is answered as GET is,
// same status and header fields, without a body; the connection then carries the next request.
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminTarget, req } from "../helpers/admin-attack.ts";

const H = (port: number): [string, string][] => [["Host", `127.0.0.1:${port}`]];

test("HEAD where GET is served: GET's status and fields, no body", { timeout: 15_000 }, async (t) => {
  const a = await adminTarget(t);
  for (const path of [
    "/api/v1/status",
    "/api/v1/pools",
    "/api/v1/pools/main",
    "/api/v1/sessions",
    "/metrics",
  ]) {
    const get = await a.send(req("GET", path, H(a.port)), "GET");
    const c = await a.open();
    // Keep-alive: a body after HEAD's head would be read as the next answer's start.
    c.write(req("HEAD", path, H(a.port)).replace("Connection: close\r\n", ""));
    const head = await c.response("HEAD");
    c.write(req("GET", "/api/v1/status", H(a.port)));
    const next = await c.response("GET");
    t.diagnostic(`${path}: GET ${get.status}, HEAD ${head.status}`);
    assert.equal(head.status, get.status, `${path}: HEAD ${head.status}, GET ${get.status}`);
    assert.equal(head.get("content-type"), get.get("content-type"), path);
    assert.equal(next.status, 200, `${path}: the answer after HEAD's (a body left behind?)`);
    assert.equal(next.body.toString().startsWith("{"), true, path);
  }
  // A missing resource is 404 to HEAD as to GET; a 405 names HEAD among the methods.
  assert.equal((await a.send(req("HEAD", "/api/v1/pools/nope", H(a.port)), "HEAD")).status, 404);
  const del = await a.send(req("DELETE", "/api/v1/status", H(a.port), ""), "DELETE");
  assert.equal(del.status, 405);
  t.diagnostic(`DELETE /api/v1/status: Allow ${del.get("allow")}`);
  assert.match(del.get("allow") ?? "", /\bHEAD\b/);
});
