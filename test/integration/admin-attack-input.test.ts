// Hostile input to the admin API over raw sockets: bad encodings, bodies, weights, names,
// paths to the dashboard's files, methods, pipelining and header floods; and the hygiene of
// what it answers (content types, nosniff, echoed input).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ATTACK_TOKEN, adminTarget, json, req, SERVER_A } from "../helpers/admin-attack.ts";

const H = (port: number): [string, string][] => [["Host", `127.0.0.1:${port}`]];
const errCode = (r: { body: Buffer }) => (json(r as never).error as { code?: string } | undefined)?.code;

// A defect found by attacking the API, fixed: a malformed percent-encoding in the path (/api/v1/pools/%E0%A4%A) makes decodeURIComponent throw and the API answers 500 "URI malformed" instead of 400 (server.ts #route).
test("a malformed percent-encoding in the path is the client's error (400), not the server's (500)", async (t) => {
  const a = await adminTarget(t);
  for (const path of ["/api/v1/pools/%E0%A4%A", "/api/v1/pools/%", "/api/v1/pools/main/servers/%C0/drain"]) {
    const method = path.endsWith("drain") ? "POST" : "GET";
    const r = await a.send(
      req(method, path, [...H(a.port), ["Content-Type", "application/json"]], "{}"),
      method,
    );
    assert.equal(r.status, 400, `${method} ${path}: ${r.body}`);
    assert.equal(errCode(r), "E_ADMIN_BAD_REQUEST");
  }
  assert.equal(a.server().admin, "ready");
});

// A defect found by attacking the API, fixed: a chunked body over 64 KiB gets no 413: readJson destroys the socket before the error answer is written, so the client sees a reset (http.ts readJson).
test("a chunked body over 64 KiB is answered 413, like one that declares its length", async (t) => {
  const a = await adminTarget(t);
  const c = await a.open();
  const chunk = "x".repeat(16 * 1024);
  let head = `POST /api/v1/pools/main/servers/${SERVER_A}/drain HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n`;
  head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  c.write(head);
  // 5 chunks of 16 KiB (80 KiB); the last-chunk only if the server is still reading.
  for (let i = 0; i < 5 && !c.ended; i++) c.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  if (!c.ended) c.write("0\r\n\r\n");
  let status: number | string;
  try {
    status = (await c.final("POST", 5_000)).r.status;
  } catch (err) {
    status = `no answer (${(err as Error).message})`;
  }
  assert.equal(status, 413, "an oversized chunked body gets its 413 before the connection ends");
  assert.equal(a.server().admin, "ready");
});

// A defect found by attacking the API, fixed: JSON answers carry no X-Content-Type-Options: nosniff (http.ts sendJson), though the dashboard's pages do.
test("every JSON answer says X-Content-Type-Options: nosniff", async (t) => {
  const a = await adminTarget(t);
  for (const [method, path] of [
    ["GET", "/api/v1/status"],
    ["GET", "/api/v1/pools/%3Chtml%3E"],
    ["GET", "/nope"],
    ["POST", "/api/v1/nope"],
  ] as const) {
    const r = await a.send(req(method, path, H(a.port), method === "POST" ? "" : undefined), method);
    assert.match(r.get("content-type") ?? "", /^application\/json/, `${method} ${path}`);
    assert.equal(r.get("x-content-type-options"), "nosniff", `${method} ${path} (${r.status})`);
  }
});

// Fixed (server.ts /metrics): the metrics text, whose label values hold pool, server and route
// names from the config or from etcd, came without nosniff, and could be cached.
test("/metrics says X-Content-Type-Options: nosniff and Cache-Control: no-store", async (t) => {
  const a = await adminTarget(t);
  const r = await a.send(req("GET", "/metrics", H(a.port)), "GET");
  assert.equal(r.status, 200);
  assert.match(r.get("content-type") ?? "", /^text\/plain/);
  assert.equal(r.get("x-content-type-options"), "nosniff");
  assert.equal(r.get("cache-control"), "no-store");
});

// A defect found by attacking the API (low severity), fixed: 405 answers carry no Allow header, which RFC 9110 §15.5.6 requires (server.ts #route).
test("a 405 names the allowed methods in Allow", async (t) => {
  const a = await adminTarget(t);
  for (const [method, path] of [
    ["DELETE", "/api/v1/status"],
    ["PUT", `/api/v1/pools/main/servers/${SERVER_A}/drain`],
    ["POST", "/metrics"],
  ] as const) {
    const r = await a.send(req(method, path, H(a.port), ""), method);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.ok(r.get("allow"), `${method} ${path}: 405 without Allow`);
  }
});

// Passes; not covered elsewhere: echoed input only ever comes back as JSON (escaped), never as HTML.
test("input echoed in errors (<script> in a pool name, method, path) comes back only inside application/json", async (t) => {
  const a = await adminTarget(t);
  const evil = "%3Cscript%3Ealert(document.domain)%3C%2Fscript%3E";
  for (const [method, path] of [
    ["GET", `/api/v1/pools/${evil}`],
    ["POST", `/api/v1/pools/${evil}/servers/${evil}/drain`],
    ["GET", `/${evil}`],
    ["PATCH", `/api/v1/${evil}`],
  ] as const) {
    const r = await a.send(
      req(method, path, [...H(a.port), ["Content-Type", "application/json"]], "{}"),
      method,
    );
    assert.match(r.get("content-type") ?? "", /^application\/json; charset=utf-8$/, `${method} ${path}`);
    assert.ok(r.status >= 400, `${method} ${path}`);
    JSON.parse(r.body.toString("utf8"));
  }
});

// Passes; covers weights admin-api.test.ts does not: none out of 0..256 or not an integer is taken.
test("weights out of range or of the wrong type are refused with 400 and change nothing", async (t) => {
  const a = await adminTarget(t);
  const bodies = [
    '{"weight":-1}',
    '{"weight":257}',
    '{"weight":1e309}',
    '{"weight":-1e309}',
    '{"weight":1.5}',
    '{"weight":"NaN"}',
    '{"weight":"7"}',
    '{"weight":true}',
    '{"weight":[7]}',
    '{"weight":{"valueOf":7}}',
    '{"Weight":7}',
    "{}",
    "[]",
    "null",
    "7",
    '"weight"',
    '{"weight":7',
    '{"weight":7}{"weight":8}',
    "\u0000",
  ];
  for (const body of bodies) {
    const r = await a.send(
      req(
        "POST",
        `/api/v1/pools/main/servers/${SERVER_A}/weight`,
        [...H(a.port), ["Content-Type", "application/json"]],
        body,
      ),
      "POST",
    );
    assert.equal(r.status, 400, `${body}: ${r.body}`);
    assert.equal(errCode(r), "E_ADMIN_BAD_REQUEST", body);
    assert.equal(a.server().operatorWeight, undefined, body);
  }
  const ok = await a.send(
    req(
      "POST",
      `/api/v1/pools/main/servers/${SERVER_A}/weight`,
      [...H(a.port), ["Content-Type", "application/json"]],
      '{"weight":256,"extra":{"__proto__":{"admin":"maint"}}}',
    ),
    "POST",
  );
  assert.equal(ok.status, 200, "unknown fields are ignored");
  assert.equal(a.server().operatorWeight, 256);
  assert.equal(a.server().admin, "ready", "a __proto__ field does not leak into the server's state");
});

// Passes; not covered elsewhere: traversal and encoded names reach no file and no other route.
test("path traversal and encoded separators reach neither a file nor another route", async (t) => {
  const a = await adminTarget(t);
  for (const path of [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/app.js/..%2f..%2f..%2fetc%2fpasswd",
    "/dashboard/../../etc/passwd",
    "/..%5c..%5cetc%5cpasswd",
    "/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/app.js%00.html",
    "/api/v1/pools/main%2F..%2F..%2Fstatus",
    "/api/v1/pools/..%2Fstatus",
    "/api/v1/%2e%2e/v1/status/x",
  ]) {
    const r = await a.send(req("GET", path, H(a.port)));
    assert.equal(r.status, 404, `${path}: ${r.body.toString().slice(0, 80)}`);
    assert.doesNotMatch(r.body.toString(), /root:|"version"/, path);
  }
  const name = "%F0%9F%93%9E".repeat(200);
  const u = await a.send(req("GET", `/api/v1/pools/${name}`, H(a.port)));
  assert.equal(u.status, 404, "a long unicode pool name is just unknown");
  const long = await a.send(req("GET", `/api/v1/pools/${"a".repeat(20_000)}`, H(a.port)));
  assert.ok(
    long.status === 414 || long.status === 431 || long.status === 404,
    `a 20 kB path: ${long.status}`,
  );
});

// Passes; not covered elsewhere: TRACE reflects nothing, odd methods change nothing.
test("TRACE, PUT, DELETE, PATCH, CONNECT-less methods: 405 or 404, nothing reflected, nothing changed", async (t) => {
  const a = await adminTarget(t, { token: ATTACK_TOKEN });
  for (const method of ["TRACE", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]) {
    const r = await a.send(
      req(
        method,
        `/api/v1/pools/main/servers/${SERVER_A}/drain`,
        [...H(a.port), ["Authorization", `Bearer ${ATTACK_TOKEN}`], ["X-Canary", "canary-1234"]],
        "",
      ),
      method,
    );
    assert.ok(r.status === 405 || r.status === 404 || r.status === 400, `${method}: ${r.status}`);
    assert.ok(!r.body.toString().includes("canary-1234"), `${method} reflects no header`);
    assert.ok(!r.body.toString().includes(ATTACK_TOKEN), `${method} reflects no token`);
  }
  assert.equal(a.server().admin, "ready");
});

// Passes; not covered elsewhere: pipelined requests are answered in order, one answer each, HTTP/1.0 too.
test("pipelined requests on one connection are answered in order, one answer each", async (t) => {
  const a = await adminTarget(t);
  const c = await a.open();
  const host = `Host: 127.0.0.1:${a.port}\r\n`;
  c.write(
    `GET /api/v1/pools/main HTTP/1.1\r\n${host}\r\n` +
      `POST /api/v1/pools/main/servers/${SERVER_A}/drain HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}` +
      `GET /api/v1/nope HTTP/1.1\r\n${host}\r\n` +
      `GET /api/v1/status HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
  );
  const r1 = (await c.final()).r;
  const r2 = (await c.final("POST")).r;
  const r3 = (await c.final()).r;
  const r4 = (await c.final()).r;
  assert.deepEqual([r1.status, r2.status, r3.status, r4.status], [200, 200, 404, 200]);
  assert.equal(json(r1).name, "main");
  assert.equal(json(r2).state, "drain");
  assert.equal(json(r4).pid, process.pid);
  await c.endedWithin(5_000);
  assert.equal(c.buf.length, 0, "nothing more than the four answers");
  const old = await a.send("GET /api/v1/status HTTP/1.0\r\n\r\n");
  assert.equal(old.status, 200, "HTTP/1.0 without Host");
});

// A defect found by attacking the API (low severity), fixed: a GET pipelined after a POST on the same connection is handled before the POST's body is read and its change applied, so it reports the state from before the change (server.ts #handle runs each request as Node emits it; RFC 9112 §9.3.2 allows parallel processing of pipelined requests only when all are safe).
test("a GET pipelined after a drain sees the drain", async (t) => {
  const a = await adminTarget(t);
  const c = await a.open();
  const host = `Host: 127.0.0.1:${a.port}\r\n`;
  c.write(
    `POST /api/v1/pools/main/servers/${SERVER_A}/drain HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}` +
      `GET /api/v1/pools/main HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
  );
  const r1 = (await c.final("POST")).r;
  const r2 = (await c.final()).r;
  assert.deepEqual([r1.status, r2.status], [200, 200]);
  assert.equal(json(r1).state, "drain");
  const st = (json(r2).servers as { address: string; state: string }[]).find((s) => s.address === SERVER_A);
  assert.equal(st?.state, "drain", "the later request's answer reflects the earlier change");
});

// Passes; not covered elsewhere: a header flood is refused with 431 and the API keeps serving.
test("a header flood is refused (431) and the API answers the next request", async (t) => {
  const a = await adminTarget(t);
  const many = Array.from({ length: 2_000 }, (_, i): [string, string] => [`X-F${i}`, "y".repeat(20)]);
  let status: number | string;
  try {
    status = (await a.send(req("GET", "/api/v1/status", [...H(a.port), ...many]))).status;
  } catch (err) {
    status = (err as Error).message;
  }
  assert.equal(status, 431);
  const r = await a.send(req("GET", "/api/v1/status", H(a.port)));
  assert.equal(r.status, 200);
});
