// Correct proxying (issue #14): hop-by-hop headers stay on their hop (RFC 9110 §7.6.1), the
// forwarding headers are set (X-Forwarded-For appended, -Proto, -Host), Via both ways.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";

test("hop-by-hop headers are removed both ways and the forwarding headers are set", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", (req, res) => {
    req.resume();
    res.writeHead(200, {
      "x-origin": "a",
      connection: "keep-alive, x-hop-res",
      "x-hop-res": "gone",
      "keep-alive": "timeout=30",
      "proxy-authenticate": "Basic",
      via: "1.1 upstream-cache",
      "content-length": "2",
    });
    res.end("ok");
  });
  const p = await startProxy(httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port])));
  t.after(() => p.close());
  const r = await get(p.port("web"), "/x?y=1", {
    host: "app.example.com:8080",
    headers: {
      connection: "keep-alive, x-hop-req",
      "x-hop-req": "gone",
      "keep-alive": "timeout=5",
      "proxy-authorization": "Basic Zm9v",
      te: "trailers",
      "x-forwarded-for": "203.0.113.9",
      "x-forwarded-proto": "gopher",
      "x-end-to-end": "kept",
    },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body, "ok");
  const seen = origin.seen[0];
  assert.ok(seen);
  const h = seen.headers;
  assert.equal(seen.url, "/x?y=1");
  assert.equal(h.host, "app.example.com:8080", "Host passed on as the client sent it");
  assert.equal(h["x-end-to-end"], "kept");
  for (const gone of ["x-hop-req", "keep-alive", "proxy-authorization", "te"])
    assert.equal(h[gone], undefined, `${gone} not forwarded`);
  assert.notEqual(h.connection, "keep-alive, x-hop-req");
  assert.equal(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1", "the client appended");
  assert.equal(h["x-forwarded-proto"], "http", "ours, not the client's");
  assert.equal(h["x-forwarded-host"], "app.example.com:8080");
  assert.equal(h.via, "1.1 trunkline");
  // The response as the client got it.
  assert.equal(r.headers["x-hop-res"], undefined);
  assert.equal(r.headers["proxy-authenticate"], undefined);
  assert.notEqual(r.headers["keep-alive"], "timeout=30");
  assert.equal(r.headers.via, "1.1 upstream-cache, 1.1 trunkline");
  assert.equal(r.headers["x-origin"], "a");
});

test("a chunked request body reaches the server whole, and a HEAD gets no body", {
  timeout: 30_000,
}, async (t) => {
  let got = "";
  const origin = await startOrigin(t, "a", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got = Buffer.concat(chunks).toString();
      res.writeHead(200, { "content-type": "text/plain", "x-te": String(req.headers["transfer-encoding"]) });
      res.end(req.method === "HEAD" ? undefined : `got ${got.length}`);
    });
  });
  const p = await startProxy(httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port])));
  t.after(() => p.close());
  // A raw chunked POST, as curl sends one of unknown length.
  const sock = connect(p.port("web"), "127.0.0.1");
  t.after(() => sock.destroy());
  sock.write("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  sock.write("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  const text = await new Promise<string>((resolve) => {
    let s = "";
    sock.on("data", (c: Buffer) => {
      s += c.toString();
    });
    sock.on("close", () => resolve(s));
  });
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /got 11/);
  assert.equal(got, "hello world");
  const head = await get(p.port("web"), "/", { method: "HEAD", host: "a" });
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
});
