// The HTTP listener's own HTTP/1.1 on raw sockets (wire/), attacked on real loopback sockets:
// pipelining, HTTP/1.0 clients, Expect: 100-continue, every way an origin may frame an answer
// (204, 304, HEAD, chunked with trailers, close-delimited, 1xx first), a stale upstream
// keep-alive connection, smuggling-shaped and malformed requests, an early answer to a large
// upload, an oversized answer head, and many requests on one connection. The client is a bare
// socket where node:http would hide what went over the wire; so is the origin where needed.
// What these attacks found wrong is in http-wire-bugs.test.ts (failing until fixed).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { type Handler, pool, startOrigin } from "../helpers/http-origin.ts";
import { until } from "../helpers/proxy.ts";
import {
  answer,
  GET,
  parseResponse,
  proxyTo,
  proxyWith,
  RawClient,
  SMUGGLED,
  startRawOrigin,
} from "../helpers/raw-http.ts";

/** Answers "METHOD url [body]", chunked when the path says so. */
const says: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const text = `${req.method} ${req.url} [${Buffer.concat(chunks).toString()}]`;
    if (req.url?.includes("chunked")) {
      res.writeHead(200, { "content-type": "text/plain", "x-origin": "a" });
      res.write(text.slice(0, 4));
      res.end(text.slice(4));
      return;
    }
    res.writeHead(200, {
      "content-type": "text/plain",
      "content-length": String(Buffer.byteLength(text)),
      "x-origin": "a",
    });
    res.end(text);
  });
};

// 1. Pipelining.

test("pipelined requests in one write are answered in order, each by the origin, and the connection stays usable", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", says);
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));

  c.write(GET("/1") + GET("/2"));
  for (const path of ["/1", "/2"]) {
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.get("x-origin"), "a");
    assert.equal(r.body.toString(), `GET ${path} []`);
  }

  // Three, of three framings: a chunked answer, a POST with a body, a plain GET.
  c.write(GET("/3-chunked") + "POST /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + GET("/5"));
  const r3 = await c.response();
  assert.equal(r3.chunked, true);
  assert.equal(r3.body.toString(), "GET /3-chunked []");
  const r4 = await c.response("POST");
  assert.equal(r4.body.toString(), "POST /4 [hello]");
  const r5 = await c.response();
  assert.equal(r5.body.toString(), "GET /5 []");

  // Still open and usable.
  const r6 = await c.request(GET("/6"));
  assert.equal(r6.body.toString(), "GET /6 []");
  assert.equal(c.ended, false);
  assert.equal(c.buf.length, 0, "no stray bytes after the answers");
  assert.deepEqual(
    origin.seen.map((s) => s.url),
    ["/1", "/2", "/3-chunked", "/4", "/5", "/6"],
  );
});

test("a pipelined request behind a slow answer waits for it: answers never overtake", {
  timeout: 30_000,
}, async (t) => {
  // The first answer is held half-sent: the proxy reads one request at a time, so the second
  // reaches the origin only after the first answer is out, and its answer comes second.
  let release: (() => void) | undefined;
  const origin = await startOrigin(t, "a", (req, res) => {
    req.resume();
    if (req.url === "/slow") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "4" });
      res.write("sl");
      release = () => res.end("ow");
      return;
    }
    res.writeHead(200, { "content-length": "4" });
    res.end("fast");
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/slow") + GET("/fast"));
  await c.until(() => c.buf.includes("sl") && release !== undefined, 5_000, "the first half of /slow");
  assert.equal(origin.requests, 1, "the pipelined request waits in the proxy's buffer");
  release?.();
  const a = await c.response();
  const b = await c.response();
  assert.equal(a.body.toString(), "slow");
  assert.equal(b.body.toString(), "fast");
});

test("many pipelined requests the proxy answers itself (no route) all get their answer, in order", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyWith(
    t,
    "  - { listener: web, match: { host: a.test }, pool: a }",
    pool("a", [origin.port]),
  );
  const c = await RawClient.open(t, p.port("web"));
  const n = 50;
  let all = "";
  for (let i = 0; i < n; i++) all += `GET /n${i} HTTP/1.1\r\nHost: nowhere.test\r\n\r\n`;
  c.write(all);
  for (let i = 0; i < n; i++) assert.equal((await c.response()).status, 404, `answer ${i}`);
  const ok = await c.request("GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n");
  assert.equal(ok.status, 200);
  assert.equal(origin.requests, 1);
});

// 2. HTTP/1.0 clients.

test("an HTTP/1.0 client: the connection closes after the answer unless it asked keep-alive", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", says);
  const p = await proxyTo(t, origin.port);

  const c1 = await RawClient.open(t, p.port("web"));
  c1.write("GET /plain HTTP/1.0\r\nHost: a\r\n\r\n");
  const r1 = await c1.response();
  assert.match(r1.head, /^HTTP\/1\.1 200 /);
  assert.equal(r1.body.toString(), "GET /plain []");
  assert.notEqual(r1.get("connection"), "keep-alive");
  await c1.endedWithin();

  const c2 = await RawClient.open(t, p.port("web"));
  const r2 = await c2.request("GET /ka1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  assert.equal(r2.status, 200);
  assert.equal(r2.get("connection"), "keep-alive");
  assert.equal(r2.get("content-length"), String(r2.body.length), "a keep-alive 1.0 answer is length-framed");
  assert.equal(c2.ended, false);
  // The same connection carries the next request.
  const r3 = await c2.request("GET /ka2 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  assert.equal(r3.body.toString(), "GET /ka2 []");
  assert.equal(r3.get("connection"), "keep-alive");
  // A keep-alive 1.0 request without the token again: closed after it.
  const r4 = await c2.request("GET /last HTTP/1.0\r\nHost: a\r\n\r\n");
  assert.equal(r4.status, 200);
  await c2.endedWithin();
  assert.deepEqual(
    origin.seen.map((s) => s.url),
    ["/plain", "/ka1", "/ka2", "/last"],
  );
});

test("a chunked answer reaches an HTTP/1.0 client de-chunked (data bytes only), then the connection closes", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n",
    );
    // The rest in a later write: the decoder follows the chunks across reads.
    setImmediate(() => c.sock.write("6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"));
  });
  const p = await proxyTo(t, origin.port);
  for (const ka of ["", "Connection: keep-alive\r\n"]) {
    const c = await RawClient.open(t, p.port("web"));
    c.write(`GET / HTTP/1.0\r\nHost: a\r\n${ka}\r\n`);
    await c.endedWithin();
    const text = c.all.toString("latin1");
    const split = text.indexOf("\r\n\r\n");
    const head = text.slice(0, split);
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(head, /transfer-encoding/i, "no chunked framing toward a 1.0 client");
    assert.doesNotMatch(head, /keep-alive/i, ka);
    assert.equal(text.slice(split + 4), "hello world", `body bytes only (${JSON.stringify(ka)})`);
  }
  // The origin's chunked answer was whole: its connection was reused for the second request.
  assert.equal(origin.conns.length, 1);
});

// 3. Expect: 100-continue.

test("Expect: 100-continue: 100 Continue before the body, then the origin's answer; the origin sees no Expect", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", says);
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write("POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
  const cont = await c.response("POST");
  assert.equal(cont.head, "HTTP/1.1 100 Continue\r\n\r\n");
  assert.equal(c.buf.length, 0, "nothing else before the body was sent");
  c.write("hello world");
  const { r, interim } = await c.final("POST");
  assert.deepEqual(interim, [], "one 100 Continue only");
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), "POST /up [hello world]");
  assert.equal(origin.seen.length, 1);
  assert.equal(origin.seen[0]?.headers.expect, undefined, "Expect is not passed on");
  // The connection goes on.
  assert.equal((await c.request(GET("/after"))).body.toString(), "GET /after []");
});

// 4. How an origin frames its answer.

test("204 and 304 carry no body and the client connection goes on to the next request", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", (req, res) => {
    req.resume();
    if (req.url === "/204") {
      res.writeHead(204, { "x-kind": "no-content" });
      res.end();
    } else if (req.url === "/304") {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else says(req, res, origin);
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const a = await c.request(GET("/204"));
  assert.equal(a.status, 204);
  assert.equal(a.get("x-kind"), "no-content");
  assert.equal(a.get("transfer-encoding"), undefined);
  const b = await c.request(GET("/304", 'If-None-Match: "v1"\r\n'));
  assert.equal(b.status, 304);
  assert.equal(b.get("etag"), '"v1"');
  assert.equal(b.get("transfer-encoding"), undefined);
  // Pipelined behind each other too.
  c.write(GET("/204") + GET("/304") + GET("/next"));
  assert.equal((await c.response()).status, 204);
  assert.equal((await c.response()).status, 304);
  const n = await c.response();
  assert.equal(n.body.toString(), "GET /next []");
  assert.equal(c.buf.length, 0, "no byte after the bodiless answers");
  assert.equal(c.ended, false);
  assert.equal(origin.connections, 1, "the upstream connection was reused too");
});

test("HEAD: the Content-Length comes through, no body does, and the connection goes on", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", (req, res) => {
    req.resume();
    if (req.method === "HEAD") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "1234" });
      res.end();
    } else says(req, res, origin);
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write("HEAD /file HTTP/1.1\r\nHost: a\r\n\r\n" + GET("/after"));
  const h = await c.response("HEAD");
  assert.equal(h.status, 200);
  assert.equal(h.get("content-length"), "1234");
  const g = await c.response();
  assert.equal(g.body.toString(), "GET /after []", "the next answer starts right after the HEAD's head");
  assert.equal(c.buf.length, 0);
  assert.equal(origin.connections, 1);
});

test("a chunked answer with trailers reaches an HTTP/1.1 client intact", { timeout: 30_000 }, async (t) => {
  const wire = [
    "5;name=v\r\nhello\r\n",
    "6\r\n world\r\n",
    "0\r\nX-Checksum: abc123\r\nX-Other: two words\r\n\r\n",
  ];
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    let i = 0;
    const more = () => {
      c.sock.write(wire[i++] as string);
      if (i < wire.length) setImmediate(more);
    };
    more();
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  for (let round = 0; round < 2; round++) {
    const r = await c.request(GET(`/t${round}`));
    assert.equal(r.status, 200);
    assert.equal(r.chunked, true);
    assert.equal(r.get("transfer-encoding"), "chunked");
    assert.equal(r.body.toString(), "hello world");
    assert.deepEqual(r.trailers, [
      ["X-Checksum", "abc123"],
      ["X-Other", "two words"],
    ]);
    assert.equal(r.wire.toString("latin1"), wire.join(""), "passed on as framed");
  }
  assert.equal(c.ended, false);
  assert.equal(origin.conns.length, 1);
});

test("a close-delimited answer reaches the client whole, and the client connection closes after it", {
  timeout: 30_000,
}, async (t) => {
  // Pieces under 16 KiB (a larger answer stalls: see http-wire-bugs.test.ts).
  const body = Buffer.alloc(12 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    c.sock.write(body.subarray(0, 1000));
    setImmediate(() => {
      c.sock.write(body.subarray(1000, 6000));
      setImmediate(() => c.sock.end(body.subarray(6000)));
    });
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/stream"));
  await c.endedWithin();
  const got = parseResponse(c.all, "GET", true);
  assert.ok(got);
  assert.equal(got.r.status, 200);
  assert.equal(got.r.get("connection"), "close");
  assert.equal(got.r.get("content-length"), undefined);
  assert.equal(got.r.get("transfer-encoding"), undefined);
  assert.equal(got.r.body.length, body.length);
  assert.ok(got.r.body.equals(body), "every byte, in order");
  const line = await p.session(0);
  assert.equal(line.outcome, "200");
  assert.equal(line.bytes_out, body.length);
  assert.equal(line.error_code, undefined);
});

test("a 103 Early Hints before the final answer does not confuse the proxy", {
  timeout: 30_000,
}, async (t) => {
  const hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/together") c.sock.write(hints + hints + answer(200, "OK", "together"));
    else {
      c.sock.write(hints);
      setImmediate(() => c.sock.write(answer(200, "OK", "apart")));
    }
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  for (const path of ["/together", "/apart", "/together"]) {
    c.write(GET(path));
    const { r, interim } = await c.final();
    assert.equal(r.status, 200, path);
    assert.equal(r.body.toString(), path.slice(1));
    for (const i of interim) assert.equal(i.status, 103);
  }
  assert.equal(c.buf.length, 0);
  assert.equal(origin.conns.length, 1);
});

test("an answer cut short by the origin: the client connection is closed, not left waiting", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/length") c.sock.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!");
    else c.sock.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhalf!\r\n");
  });
  const p = await proxyTo(t, origin.port);
  for (const [i, path] of ["/length", "/chunked"].entries()) {
    const c = await RawClient.open(t, p.port("web"));
    c.write(GET(path));
    await c.endedWithin();
    assert.ok(c.all.includes("half!"), path);
    assert.equal(parseResponse(c.all, "GET", false), undefined, "never seen as a whole answer");
    const line = await p.session(i);
    assert.equal(line.error_code, "E_UPSTREAM_GONE", path);
  }
});

// 5. A stale upstream keep-alive connection.

test("an idle upstream connection the origin reset: the next GET gets 200 on a new connection, no failed attempt", {
  timeout: 30_000,
}, async (t) => {
  // Answers each connection's first request, then resets it once the answer is out (a
  // server dropping idle keep-alive connections hard). The FIN case: http-wire-bugs.test.ts.
  const origin = await startRawOrigin(t, (h, c) => {
    c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`, ["Connection: keep-alive"]), () =>
      c.sock.resetAndDestroy(),
    );
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request(GET("/one"))).body.toString(), "conn 0 /one");
  await origin.until(() => origin.conns[0]?.closed === true, 5_000, "the origin's reset");
  const r = await c.request(GET("/two"));
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), "conn 1 /two", "from a new connection");
  const line = await p.session(1);
  assert.equal(line.outcome, "200");
  assert.equal(line.failed_attempts, undefined);
  assert.equal(line.error_code, undefined);
});

test("a reused upstream connection closed as the request arrives: replaced, 200, no failed attempt", {
  timeout: 30_000,
}, async (t) => {
  // The first request on a connection is answered; a second one on it closes it unanswered.
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.onConn === 0) c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`));
    else c.sock.destroy();
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request(GET("/one"))).body.toString(), "conn 0 /one");
  const r = await c.request(GET("/two"));
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), "conn 1 /two");
  const line = await p.session(1);
  assert.equal(line.failed_attempts, undefined);
  assert.equal(line.outcome, "200");
  assert.deepEqual(
    origin.seen.map((s) => [s.conn, s.target]),
    [
      [0, "/one"],
      [0, "/two"],
      [1, "/two"],
    ],
  );
});

// 6. Smuggling-shaped and malformed requests.

const BAD_HEADS: [string, string, number][] = [
  [
    "Content-Length and Transfer-Encoding",
    `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "Transfer-Encoding and Content-Length",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "two different Content-Length fields",
    `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello${SMUGGLED}`,
    400,
  ],
  [
    "a Content-Length list of two values",
    `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello${SMUGGLED}`,
    400,
  ],
  [
    "a signed Content-Length",
    `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello${SMUGGLED}`,
    400,
  ],
  ["obs-fold", `GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n${SMUGGLED}`, 400],
  [
    "obs-fold of Transfer-Encoding",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  ["a bare LF ending the request line", `GET / HTTP/1.1\nHost: a\r\n\r\n${SMUGGLED}`, 400],
  ["a bare LF ending a header line", `GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n${SMUGGLED}`, 400],
  ["a bare CR in a header line", `GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n${SMUGGLED}`, 400],
  [
    "a space before the colon",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "chunked not the last coding",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "chunked twice",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "chunked in an HTTP/1.0 request",
    `POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "a transfer coding other than chunked (RFC 9112 §6.3: no telling where the body ends)",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxxxx${SMUGGLED}`,
    400,
  ],
  ["two Host fields", `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${SMUGGLED}`, 400],
  ["no Host in HTTP/1.1", `GET / HTTP/1.1\r\nX-A: 1\r\n\r\n${SMUGGLED}`, 400],
  ["a NUL in a header value", `GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n${SMUGGLED}`, 400],
];

test("smuggling-shaped and malformed heads: one error answer, the connection closed, the origin sees nothing", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyTo(t, origin.port);
  for (const [what, bytes, status] of BAD_HEADS) {
    const c = await RawClient.open(t, p.port("web"));
    c.write(bytes);
    await c.endedWithin(5_000);
    const got = parseResponse(c.all, "GET", true);
    assert.ok(got, `${what}: an answer`);
    assert.equal(got.r.status, status, what);
    assert.equal(got.r.get("connection"), "close", what);
    assert.equal(got.size, c.all.length, `${what}: one answer only`);
  }
  // A good request after all that reaches the origin; nothing before it did.
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request(GET("/good"))).status, 200);
  assert.deepEqual(
    origin.seen.map((s) => s.url),
    ["/good"],
  );
});

test("a chunked body with a bad chunk: the connection is closed, and the origin gets no request out of the body", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyTo(t, origin.port);
  const head = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const bodies = [
    `zz\r\n${SMUGGLED}`,
    `5\r\nhello\r\n-1\r\n${SMUGGLED}`,
    `0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
    `5 \r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
    `fffffffffffffff\r\n${SMUGGLED}`,
    `5\r\nhelloXX\r\n0\r\n\r\n${SMUGGLED}`,
    `5\nhello\n0\n\n${SMUGGLED}`,
    `3\r\nabc\r\n0\r\n X: folded\r\n\r\n${SMUGGLED}`,
  ];
  for (const [i, body] of bodies.entries()) {
    const c = await RawClient.open(t, p.port("web"));
    // The head first (the proxy sends it on), then the bad body.
    c.write(head);
    await until(() => origin.seen.length === i + 1, 5_000, "the POST's head at the origin");
    c.write(body);
    await c.endedWithin(5_000);
    assert.doesNotMatch(c.all.toString(), /smuggled/, JSON.stringify(body));
    const line = await p.session(i);
    assert.notEqual(line.outcome, "200", JSON.stringify(body));
  }
  // A request on a new connection, answered: whatever the origin got before it, it has read.
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request(GET("/sentinel"))).status, 200);
  const urls = origin.seen.map((s) => s.url);
  assert.equal(urls.includes("/smuggled"), false, urls.join(" "));
  assert.equal(urls.at(-1), "/sentinel");
});

test("a 4 MiB upload, Content-Length or chunked, reaches the origin byte for byte on a reused connection", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", (req, res) => {
    const h = createHash("sha256");
    let n = 0;
    req.on("data", (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    req.on("end", () => {
      const text = `${n} ${h.digest("hex")} ${req.headers["transfer-encoding"] ?? "-"}`;
      res.writeHead(200, { "content-length": String(text.length) });
      res.end(text);
    });
  });
  const p = await proxyTo(t, origin.port);
  const body = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
  const sum = createHash("sha256").update(body).digest("hex");
  const c = await RawClient.open(t, p.port("web"));
  const piece = 256 * 1024;
  c.write(`POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (let i = 0; i < body.length; i += piece) c.write(body.subarray(i, i + piece));
  assert.equal((await c.response("POST", 10_000)).body.toString(), `${body.length} ${sum} -`);
  c.write("POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (let i = 0; i < body.length; i += piece) {
    const part = body.subarray(i, i + piece);
    c.write(
      Buffer.concat([Buffer.from(`${part.length.toString(16)};i=${i}\r\n`), part, Buffer.from("\r\n")]),
    );
  }
  c.write("0\r\n\r\n");
  assert.equal((await c.response("POST", 10_000)).body.toString(), `${body.length} ${sum} chunked`);
  assert.equal(c.ended, false);
  assert.equal(origin.connections, 1);
});

// 7. An early answer to a large upload.

for (const closes of [true, false]) {
  test(`an origin answering 413 in the middle of a slow 10 MB upload (${closes ? "and closing" : "keeping its connection"}): 413 with Connection: close, no hang`, {
    timeout: 30_000,
  }, async (t) => {
    // The origin reads the head only; the test answers for it once some body is flowing.
    const origin = await startRawOrigin(t, () => {});
    const p = await proxyTo(t, origin.port);
    const c = await RawClient.open(t, p.port("web"));
    const total = 10 * 1024 * 1024;
    const piece = Buffer.alloc(16 * 1024, 0x61);
    c.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
    let sent = 0;
    const pacer = setInterval(() => {
      if (c.ended || sent >= total) return clearInterval(pacer);
      c.sock.write(piece);
      sent += piece.length;
    }, 5);
    t.after(() => clearInterval(pacer));
    await origin.until(() => (origin.conns[0]?.bodyBytes ?? 0) >= 128 * 1024, 10_000, "128 KiB of body");
    const up = origin.conns[0]!;
    const a = answer(413, "Payload Too Large", "too big!", closes ? ["Connection: close"] : []);
    if (closes) up.sock.end(a);
    else up.sock.write(a);
    const t0 = performance.now();
    const r = await c.response("POST");
    assert.equal(r.status, 413);
    assert.equal(r.body.toString(), "too big!");
    assert.equal(r.get("connection"), "close");
    const line = await p.session(0);
    t.diagnostic(`log line ${(performance.now() - t0).toFixed(0)} ms after the answer; ${sent} bytes sent`);
    assert.equal(line.outcome, "413");
    await c.endedWithin(5_000);
    assert.ok(sent < total, `the client stopped early (${sent} bytes)`);
    // The upstream connection with its unfinished body is not kept.
    await origin.until(() => up.closed, 5_000, "the upstream connection closed");
    assert.ok(up.bodyBytes < total);
  });
}

// 8. An oversized answer head.

test("an origin answer with over 64 KiB of headers gets the client a 502; just under passes", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", (req, res) => {
    req.resume();
    const kib = req.url === "/over" ? 65 : 60;
    res.writeHead(200, { "x-big": "x".repeat(kib * 1024), "content-length": "2" });
    res.end("ok");
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const over = await c.request(GET("/over"));
  assert.equal(over.status, 502);
  const line = await p.session(0);
  assert.equal(line.status, 502);
  assert.equal(line.error_code, "E_UPSTREAM_GONE");
  const c2 = await RawClient.open(t, p.port("web"));
  const under = await c2.request(GET("/under"));
  assert.equal(under.status, 200);
  assert.equal(under.get("x-big")?.length, 60 * 1024);
  assert.equal(under.body.toString(), "ok");
});

// 9. Many requests on one connection.

test("500 sequential requests on one keep-alive client connection all succeed over a few upstream connections", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", says);
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  for (let i = 0; i < 500; i++) {
    const r = await c.request(GET(`/r${i}`));
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `GET /r${i} []`);
  }
  assert.equal(c.ended, false);
  assert.equal(origin.requests, 500);
  t.diagnostic(`500 requests over ${origin.connections} upstream connection(s)`);
  assert.ok(origin.connections <= 2, `${origin.connections} upstream connections`);
});

test("a client that half-closes after its requests still gets every answer, then the connection ends", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", says);
  const p = await proxyTo(t, origin.port);
  // One request, then the client's FIN (as `nc -q` or a shutdown(SHUT_WR) does).
  const one = await RawClient.open(t, p.port("web"), true);
  one.write(GET("/only"));
  one.sock.end();
  const r = await one.final();
  assert.equal(r.r.status, 200);
  assert.match(r.r.body.toString(), /GET \/only/);
  await one.endedWithin();
  // Two pipelined requests, then the FIN: both are answered, in order.
  const two = await RawClient.open(t, p.port("web"), true);
  two.write(GET("/first") + GET("/second"));
  two.sock.end();
  assert.match((await two.final()).r.body.toString(), /GET \/first/);
  assert.match((await two.final()).r.body.toString(), /GET \/second/);
  await two.endedWithin();
  // A FIN in the middle of a body: the request can never be whole, the connection ends.
  const cut = await RawClient.open(t, p.port("web"), true);
  cut.write("POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly some");
  cut.sock.end();
  await cut.endedWithin();
  const line = await p.session(3);
  assert.equal(line.outcome, "aborted");
});
