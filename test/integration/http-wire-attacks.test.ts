// Defects of the HTTP listener's own HTTP/1.1 (wire/) found by attacking it on loopback
// sockets, each fixed: an answer over 64 KiB stalled (the client's drain was not wired), an
// idle upstream connection closed by the server was reused, pipelined answers the proxy gave
// itself recursed, Connection could name Content-Length away, bytes after `Connection: close`
// were read as requests, 1xx were dropped. Every test failed on the code before its fix.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { pool, sayBack, startOrigin } from "../helpers/http-origin.ts";
import { type TestProxy, until } from "../helpers/proxy.ts";
import { answer, GET, proxyTo, proxyWith, RawClient, SMUGGLED, startRawOrigin } from "../helpers/raw-http.ts";

/**
 * A request on a new connection, answered: the origin has read whatever the proxy sent it
 * before. Returns the paths the origin saw.
 */
async function seenAfterSentinel(t: TestContext, p: TestProxy, seen: () => string[]): Promise<string[]> {
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request(GET("/sentinel"));
  assert.equal(r.status, 200);
  return seen();
}

/**
 * After bytes the proxy must not take as a request: until the proxy closes the connection or
 * the origin gets a request out of them, at most 3 s (the time a forwarded request would take
 * on loopback, many times over).
 */
async function settle(c: RawClient, forwarded: () => boolean): Promise<void> {
  await until(() => c.closed || forwarded(), 3_000).catch(() => {});
}

// Bug 1: an answer larger than one socket write stalls (InboundRequest.onDrain is never called).

const big = Buffer.alloc(1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;

for (const framing of ["content-length", "chunked", "close"] as const) {
  test(`a 1 MiB answer (${framing}) reaches a client that reads it, within seconds`, {
    timeout: 30_000,
  }, async (t) => {
    const origin = await startRawOrigin(t, (_h, c) => {
      if (framing === "content-length")
        c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      else if (framing === "chunked") c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      else c.sock.write("HTTP/1.1 200 OK\r\n\r\n");
      // Eight writes of 128 KiB: the body spans many reads on the proxy's side.
      for (let i = 0; i < 8; i++) {
        const part = big.subarray(i * 131072, (i + 1) * 131072);
        if (framing === "chunked") c.sock.write(`${part.length.toString(16)}\r\n`);
        c.sock.write(part);
        if (framing === "chunked") c.sock.write("\r\n");
      }
      if (framing === "chunked") c.sock.write("0\r\n\r\n");
      if (framing === "close") c.sock.end();
    });
    const p = await proxyTo(t, origin.port);
    const c = await RawClient.open(t, p.port("web"));
    c.write(GET("/big"));
    const t0 = performance.now();
    let r: Awaited<ReturnType<RawClient["response"]>> | undefined;
    try {
      r = await c.response("GET", 5_000);
    } catch (err) {
      assert.fail(
        `${(err as Error).message}: ${c.all.length} bytes of head and body read after ${(performance.now() - t0).toFixed(0)} ms`,
      );
    }
    assert.equal(r.body.length, big.length);
    assert.ok(r.body.equals(big));
  });
}

// Bug 2: an idle upstream connection the server closed with a FIN stays in the pool.

for (const method of ["GET", "POST"]) {
  test(`an idle upstream connection the origin closed (FIN): the next ${method} gets 200 on a new connection, no failed attempt`, {
    timeout: 30_000,
  }, async (t) => {
    // Each connection's first request answered, then the connection closed (a server whose
    // keep-alive timeout is shorter than the proxy's 4 s).
    const origin = await startRawOrigin(t, (h, c) => {
      c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`, ["Connection: keep-alive"]), () =>
        c.sock.destroy(),
      );
    });
    const p = await proxyTo(t, origin.port, ", upstream_timeout: 2s");
    const c = await RawClient.open(t, p.port("web"));
    assert.equal((await c.request(GET("/one"))).body.toString(), "conn 0 /one");
    await origin.until(() => origin.conns[0]?.closed === true, 5_000, "the origin's close");
    const t0 = performance.now();
    const req =
      method === "GET" ? GET("/two") : "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const r = await c.request(req, method, 8_000);
    const ms = performance.now() - t0;
    const line = await p.session(1);
    assert.equal(
      r.status,
      200,
      `${r.status} after ${ms.toFixed(0)} ms; failed_attempts ${JSON.stringify(line.failed_attempts)}`,
    );
    assert.equal(r.body.toString(), "conn 1 /two");
    assert.equal(line.failed_attempts, undefined);
  });
}

// Bug 3: pipelined requests the proxy answers itself recurse, one stack level set per request.

test("3000 pipelined HEAD requests the proxy answers itself (no route) all get their 404", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyWith(
    t,
    "  - { listener: web, match: { host: a.test }, pool: a }",
    pool("a", [origin.port]),
  );
  const c = await RawClient.open(t, p.port("web"));
  const n = 3000;
  let all = "";
  for (let i = 0; i < n; i++) all += `HEAD /n${i} HTTP/1.1\r\nHost: nowhere.test\r\n\r\n`;
  c.write(all);
  let got = 0;
  try {
    for (; got < n; got++) assert.equal((await c.response("HEAD")).status, 404);
  } catch (err) {
    assert.fail(
      `${got} of ${n} answered, then: ${(err as Error).message}; session lines ${p.sessions().length}`,
    );
  }
});

// Bug 4: a request naming Content-Length in Connection goes upstream without its framing.

test("a request with Connection: Content-Length: the body reaches the origin as a body, never as a request", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(
    `POST /a HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  );
  const r = await c.response("POST");
  const seen = await seenAfterSentinel(t, p, () => origin.seen.map((s) => s.url));
  assert.deepEqual(seen, ["/a", "/sentinel"], "the body was read as a request by the origin");
  assert.equal(origin.seen[0]?.headers["content-length"], String(SMUGGLED.length));
  assert.equal(r.body.toString(), `POST /a [${SMUGGLED}]`);
});

// Bug 5: an answer naming Content-Length in Connection reaches the client without its framing.

test("an answer with Connection: Content-Length reaches the client still framed", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    c.sock.write(answer(200, "OK", `body of ${h.target}`, ["Connection: Content-Length"]));
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/1"));
  await c.until(() => c.all.includes("body of /1"), 5_000, "the first answer");
  const head = c.all.toString("latin1", 0, c.all.indexOf("\r\n\r\n"));
  const framed = /\r\ncontent-length: 10(\r\n|$)/i.test(head) || /\r\nconnection: close(\r\n|$)/i.test(head);
  assert.ok(framed, `neither a Content-Length nor Connection: close: ${JSON.stringify(head)}`);
});

// Bug 6: once the proxy answered with Connection: close, it still reads requests.

test("after a 404 with Connection: close to a POST whose body was not read, the body is not read as a request", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyWith(
    t,
    "  - { listener: web, match: { host: a }, pool: a }",
    pool("a", [origin.port]),
  );
  // A client that keeps its side open after the proxy's FIN (a front proxy still sending).
  const c = await RawClient.open(t, p.port("web"), true);
  c.write(`POST /x HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n`);
  const r = await c.response("POST");
  assert.equal(r.status, 404);
  assert.equal(r.get("connection"), "close");
  c.write(SMUGGLED); // the POST's body, as its Content-Length said
  await settle(c, () => origin.seen.length > 0);
  const seen = await seenAfterSentinel(t, p, () => origin.seen.map((s) => s.url));
  assert.deepEqual(seen, ["/sentinel"], "the POST's body was forwarded as a request");
});

test("after an early 413 with Connection: close, the rest of the upload is not read as a request", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    c.sock.write(
      h.target === "/upload" ? answer(413, "Payload Too Large", "no") : answer(200, "OK", `got ${h.target}`),
    );
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"), true);
  c.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n`);
  const r = await c.response("POST");
  assert.equal(r.status, 413);
  assert.equal(r.get("connection"), "close");
  c.write(SMUGGLED); // more of the upload's 100000 bytes
  await settle(c, () => origin.seen.length > 1);
  const seen = await seenAfterSentinel(t, p, () => origin.seen.map((s) => s.target));
  assert.deepEqual(seen, ["/upload", "/sentinel"], "part of the upload was forwarded as a request");
});

test("a request after one with Connection: close is not processed (RFC 9112 §9.6)", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"), true);
  c.write(GET("/first", "Connection: close\r\n") + GET("/second"));
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.get("connection"), "close");
  c.write("\r\n"); // any later byte
  await settle(c, () => origin.seen.length > 1);
  const seen = await seenAfterSentinel(t, p, () => origin.seen.map((s) => s.url));
  assert.deepEqual(seen, ["/first", "/sentinel"], "a request after Connection: close was forwarded");
});

// Bug 7 (RFC deviation): 1xx answers of the origin are dropped.

test("a 103 Early Hints of the origin is forwarded to an HTTP/1.1 client (RFC 9110 §15.2)", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write(
      `HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n${answer(200, "OK", "ok")}`,
    );
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/"));
  const { r, interim } = await c.final();
  assert.equal(r.status, 200);
  assert.deepEqual(
    interim.map((i) => [i.status, i.get("link")]),
    [[103, "</style.css>; rel=preload"]],
  );
});
