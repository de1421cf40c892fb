// The HTTP listener's own HTTP/1.1 (wire/), second round of attacks on real loopback sockets,
// in the areas http-wire.test.ts and http-wire-attacks.test.ts leave alone: the TLS front end
// (keep-alive, pipelining, a slow reader of a large answer, a handshake never finished, plain
// HTTP on the TLS port), upstream servers over TLS (reuse, a certificate that does not
// verify), Upgrade edges (a refusal instead of 101, bytes right after the head, HTTP/1.0),
// drain and reload with requests in flight, misbehaving servers (an early answer then a
// reset, extra bytes after an answer, a broken chunked body, a head byte by byte, obs-fold
// and bare LF, silence, a short body), and the limits (connections, head size, field count,
// chunk extensions). Most tests also check the access log line and that the server's active
// count is back to 0. What these attacks found wrong is in http-wire-edges-bugs.test.ts.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import type { HttpListener } from "../../src/protocols/http/listener.ts";
import { startBlackhole } from "../helpers/blackhole.ts";
import { ROOT } from "../helpers/cli.ts";
import { type Handler, httpConfig, pool, sayBack, startOrigin } from "../helpers/http-origin.ts";
import { type TestProxy, until } from "../helpers/proxy.ts";
import {
  active,
  answer,
  GET,
  parseResponse,
  proxyTo,
  proxyWith,
  RawClient,
  SWITCHING,
  startRawOrigin,
  startTunnelOrigin,
  UPGRADE,
  within,
} from "../helpers/raw-http.ts";

const TLS = join(ROOT, "test/fixtures/tls");
const CA = readFileSync(join(TLS, "ca.pem"));
/** The listener's `tls:` (server.pem names localhost and 127.0.0.1, signed by ca.pem). */
const LISTENER_TLS = `, tls: { cert: ${join(TLS, "server.pem")}, key: ${join(TLS, "server.key")} }`;

async function activeBackToZero(p: TestProxy, port: number): Promise<void> {
  await until(() => active(p, port) === 0, 5_000, `active count of 127.0.0.1:${port} back to 0`);
}

/** The access log line of the request for `path`, waiting for it. */
async function lineFor(p: TestProxy, path: string): Promise<Record<string, unknown>> {
  await until(() => p.sessions().some((l) => l.path === path), 5_000, `the log line of ${path}`);
  return p.sessions().find((l) => l.path === path)!;
}

/** A TLS client of the proxy on a bare TLS socket, handshake done. */
async function tlsOpen(t: TestContext, port: number): Promise<RawClient> {
  const s = tlsConnect({ host: "127.0.0.1", port, ca: CA, servername: "localhost" });
  s.on("error", () => {});
  t.after(() => s.destroy());
  await within(once(s, "secureConnect"), 5_000, "TLS handshake");
  return new RawClient(s);
}

/** A reader that takes one read, then waits `ms` before the next (a slow client). */
function readSlowly(sock: Socket, ms: number): () => number {
  let reads = 0;
  let timer: NodeJS.Timeout | undefined;
  sock.on("data", () => {
    reads++;
    sock.pause();
    clearTimeout(timer);
    timer = setTimeout(() => sock.resume(), ms);
  });
  sock.on("close", () => clearTimeout(timer));
  return () => reads;
}

/** `n` bytes of a pattern that shows a byte out of place. */
function pattern(n: number, k = 13): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * k + (i >> 11)) & 0xff;
  return b;
}

/** An HTTPS origin: node:https with the fixture's certificate (`rogue-server`: another CA's). */
async function startHttpsOrigin(
  t: TestContext,
  cert: "server" | "rogue-server",
  handler: Handler,
  keepAliveMs?: number,
): Promise<{ port: number; handshakes: number; requests: number; closedConns: number; proto: string[] }> {
  const o = { port: 0, handshakes: 0, requests: 0, closedConns: 0, proto: [] as string[] };
  const sockets = new Set<Socket>();
  const server = createHttpsServer(
    { cert: readFileSync(join(TLS, `${cert}.pem`)), key: readFileSync(join(TLS, `${cert}.key`)) },
    (req, res) => {
      o.requests++;
      o.proto.push(String(req.headers["x-forwarded-proto"]));
      handler(req, res, undefined as never);
    },
  );
  if (keepAliveMs !== undefined) server.keepAliveTimeout = keepAliveMs;
  server.on("secureConnection", () => o.handshakes++);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => {
      sockets.delete(s);
      o.closedConns++;
    });
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  o.port = (server.address() as { port: number }).port;
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return o;
}

/** A pool of TLS servers (`tls` is the YAML of each server's `tls:`). */
function tlsPool(name: string, servers: [number, string][], balance = "failover"): string {
  return `  ${name}:
    balance: ${balance}
    servers:
${servers.map(([port, tls]) => `      - { address: 127.0.0.1:${port}, tls: ${tls} }`).join("\n")}
`;
}

const CA_TLS = `{ ca: ${join(TLS, "ca.pem")}, servername: localhost }`;

/** A masked WebSocket text frame (RFC 6455 §5.2), as a client sends it. */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

// 1. The TLS front end.

test("TLS front end: several requests, one after another, on one TLS connection kept alive", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port, LISTENER_TLS);
  const c = await tlsOpen(t, p.port("web"));
  for (let i = 0; i < 6; i++) {
    const req =
      i % 2 === 0 ? GET(`/k${i}`) : `POST /k${i} HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nb${i}!`;
    const r = await c.request(req, i % 2 === 0 ? "GET" : "POST");
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), i % 2 === 0 ? `GET /k${i} []` : `POST /k${i} [b${i}!]`);
    assert.equal(r.get("connection"), undefined, "kept alive");
  }
  assert.equal(c.ended, false);
  assert.equal(origin.requests, 6);
  assert.equal(origin.connections, 1, "one upstream connection for the six");
  for (const s of origin.seen) assert.equal(s.headers["x-forwarded-proto"], "https");
  c.sock.end();
  await until(() => p.sessions().length === 6, 5_000, "six log lines");
  for (const l of p.sessions()) assert.equal(l.outcome, "200");
  await activeBackToZero(p, origin.port);
});

test("TLS front end: pipelined requests, in one TLS write and split across writes mid-head, answered in order", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port, LISTENER_TLS);
  const c = await tlsOpen(t, p.port("web"));
  let all = "";
  for (let i = 0; i < 20; i++) all += GET(`/p${i}`);
  all += "POST /p20 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + GET("/p21");
  c.write(all);
  for (let i = 0; i < 22; i++) {
    const r = await c.response(i === 20 ? "POST" : "GET");
    assert.equal(r.status, 200, `answer ${i}`);
    assert.equal(r.body.toString(), i === 20 ? "POST /p20 [hello]" : `GET /p${i} []`);
  }
  // Three requests cut in TLS records at odd places: inside a request line, a field, the empty line.
  const three = GET("/q0") + GET("/q1", "X-Long: abcdefgh\r\n") + GET("/q2");
  const cuts = [7, 40, three.length - 2];
  let at = 0;
  for (const cut of [...cuts, three.length]) {
    c.write(three.slice(at, cut));
    at = cut;
  }
  for (let i = 0; i < 3; i++) assert.equal((await c.response()).body.toString(), `GET /q${i} []`);
  assert.equal(c.buf.length, 0);
  assert.equal(c.ended, false);
  assert.equal(origin.requests, 25);
});

test("TLS front end: a 1 MiB answer to a client that reads slowly arrives whole, and the connection goes on", {
  timeout: 30_000,
}, async (t) => {
  const big = pattern(1024 * 1024);
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/big") {
      c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      c.sock.write(big);
    } else c.sock.write(answer(200, "OK", "after"));
  });
  const p = await proxyTo(t, origin.port, LISTENER_TLS);
  const c = await tlsOpen(t, p.port("web"));
  const reads = readSlowly(c.sock, 8);
  c.write(GET("/big"));
  const t0 = performance.now();
  const r = await c.response("GET", 20_000);
  t.diagnostic(`${reads()} reads, ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(reads() >= 16, `read slowly: ${reads()} reads`);
  assert.equal(r.body.length, big.length);
  assert.ok(r.body.equals(big), "every byte, in order");
  assert.equal((await c.request(GET("/after"))).body.toString(), "after");
  const line = await p.session(0);
  assert.equal(line.outcome, "200");
  assert.equal(line.bytes_out, big.length);
  assert.equal(line.error_code, undefined);
  assert.equal(origin.conns.length, 1, "the upstream connection was kept after the big answer");
});

test("TLS front end: a client that never finishes its handshake is closed after header_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyTo(t, origin.port, `${LISTENER_TLS}, header_timeout: 300ms`);
  // Nothing at all; then the first bytes of a ClientHello whose record sayBack 512 bytes follow.
  const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  for (const first of [undefined, partialHello]) {
    const c = await RawClient.open(t, p.port("web"));
    const t0 = performance.now();
    if (first !== undefined) c.write(first);
    await c.endedWithin(5_000);
    const ms = performance.now() - t0;
    assert.ok(ms >= 250, `closed after ${ms.toFixed(0)} ms, before header_timeout`);
    assert.equal(c.all.length, 0, "no byte of an answer");
  }
  await p.waitForLog((r) => r.code === "E_TLS_HANDSHAKE", 5_000);
  // The listener still serves.
  const ok = await tlsOpen(t, p.port("web"));
  assert.equal((await ok.request(GET("/ok"))).status, 200);
  // The session ends once its answer is written through, which may be just after the client read it.
  await p.session(0);
  assert.equal(p.sessions().length, 1, "no session for the unfinished handshakes");
});

test("TLS front end: after the handshake, silence and a head sent too slowly end after header_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await proxyTo(t, origin.port, `${LISTENER_TLS}, header_timeout: 400ms`);
  const silent = await tlsOpen(t, p.port("web"));
  const slow = await tlsOpen(t, p.port("web"));
  const t0 = performance.now();
  const head = GET("/slow");
  let i = 0;
  const drip = setInterval(() => {
    if (i < head.length - 4 && !slow.ended) slow.write(head[i++] as string);
  }, 40);
  t.after(() => clearInterval(drip));
  await silent.endedWithin(5_000);
  assert.equal(silent.all.length, 0);
  const r = await slow.response("GET", 5_000);
  clearInterval(drip);
  const ms = performance.now() - t0;
  assert.equal(r.status, 408);
  assert.ok(ms >= 350 && ms < 3_000, `408 after ${ms.toFixed(0)} ms`);
  await slow.endedWithin();
  assert.equal(origin.requests, 0);
});

test("TLS front end: plain HTTP on the TLS port is closed, and TLS clients go on being served", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port, LISTENER_TLS);
  const port = p.port("web");
  const before = await tlsOpen(t, port);
  assert.equal((await before.request(GET("/before"))).status, 200);
  const plain = [
    GET("/plain"),
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
    `\r\n${GET("/")}`,
  ];
  for (const bytes of plain) {
    const c = await RawClient.open(t, port);
    c.write(bytes);
    const t0 = performance.now();
    await c.endedWithin(2_000);
    t.diagnostic(
      `${JSON.stringify(bytes.slice(0, 8))}: closed after ${(performance.now() - t0).toFixed(0)} ms`,
    );
    assert.doesNotMatch(c.all.toString("latin1"), /^HTTP\//, "no HTTP answer in clear");
  }
  await p.waitForLog((r) => r.code === "E_TLS_HANDSHAKE", 5_000);
  // The keep-alive TLS connection opened before, and a new one, both still served.
  assert.equal((await before.request(GET("/still"))).body.toString(), "GET /still []");
  const after = await tlsOpen(t, port);
  assert.equal((await after.request(GET("/after"))).body.toString(), "GET /after []");
  assert.deepEqual(
    origin.seen.map((s) => s.url),
    ["/before", "/still", "/after"],
  );
});

// 2. Upstream servers over TLS.

test("upstream TLS: requests go through a verified connection that is reused, a large answer too", {
  timeout: 30_000,
}, async (t) => {
  const big = pattern(1024 * 1024, 7);
  const origin = await startHttpsOrigin(t, "server", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/big") {
        res.writeHead(200, { "content-length": String(big.length) });
        res.end(big);
        return;
      }
      const text = `${req.method} ${req.url} [${Buffer.concat(chunks).toString()}]`;
      res.writeHead(200, { "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
    });
  });
  const p = await proxyWith(t, "  - { listener: web, pool: s }", tlsPool("s", [[origin.port, CA_TLS]]));
  const c = await RawClient.open(t, p.port("web"));
  for (let i = 0; i < 4; i++) assert.equal((await c.request(GET(`/t${i}`))).body.toString(), `GET /t${i} []`);
  const post = await c.request(
    "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    "POST",
  );
  assert.equal(post.body.toString(), "POST /up [hello world]");
  // 1 MiB from the TLS server to a client reading slowly: held back, then whole.
  const reads = readSlowly(c.sock, 5);
  const r = await c.request(GET("/big"), "GET", 20_000);
  assert.ok(reads() >= 8, `${reads()} reads`);
  assert.ok(r.body.equals(big), "the big answer, every byte");
  assert.equal((await c.request(GET("/last"))).body.toString(), "GET /last []");
  assert.equal(origin.requests, 7);
  assert.equal(origin.handshakes, 1, "one TLS connection to the server, reused");
  assert.ok(origin.proto.every((x) => x === "http"));
  await until(() => p.sessions().length === 7, 5_000, "seven log lines");
  for (const l of p.sessions()) {
    assert.equal(l.outcome, "200");
    assert.equal(l.failed_attempts, undefined);
  }
  await activeBackToZero(p, origin.port);
});

test("upstream TLS: a server whose certificate does not verify fails with E_TLS_FAILED and the next server answers", {
  timeout: 30_000,
}, async (t) => {
  const ok: Handler = (req, res) => {
    req.resume();
    res.writeHead(200, { "content-length": "4" });
    res.end("good");
  };
  const rogue = await startHttpsOrigin(t, "rogue-server", ok);
  const good = await startHttpsOrigin(t, "server", ok);
  const good2 = await startHttpsOrigin(t, "server", ok);
  // Another CA's certificate; then the right CA but a name the certificate does not hold.
  const wrongName = `{ ca: ${join(TLS, "ca.pem")}, servername: other.test }`;
  const pools =
    tlsPool("s", [
      [rogue.port, CA_TLS],
      [good.port, CA_TLS],
    ]) +
    tlsPool("n", [
      [good2.port, wrongName],
      [good.port, CA_TLS],
    ]) +
    tlsPool("r", [[rogue.port, CA_TLS]]);
  const routes = [
    "  - { listener: web, match: { host: s.test }, pool: s }",
    "  - { listener: web, match: { host: n.test }, pool: n }",
    "  - { listener: web, match: { host: r.test }, pool: r }",
  ].join("\n");
  const p = await proxyWith(t, routes, pools);
  const c = await RawClient.open(t, p.port("web"));
  const via = (host: string) => c.request(`GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);

  const s = await via("s.test");
  assert.equal(s.status, 200);
  assert.equal(s.body.toString(), "good");
  const ls = await p.session(0);
  assert.equal(ls.outcome, "200");
  assert.equal(ls.server, `127.0.0.1:${good.port}`);
  const fs = ls.failed_attempts as { server: string; code: string }[];
  assert.deepEqual(
    fs.map((f) => [f.server, f.code]),
    [[`127.0.0.1:${rogue.port}`, "E_TLS_FAILED"]],
  );

  const n = await via("n.test");
  assert.equal(n.status, 200);
  const ln = await p.session(1);
  assert.deepEqual(
    (ln.failed_attempts as { code: string }[]).map((f) => f.code),
    ["E_TLS_FAILED"],
    "a certificate without the name asked for",
  );

  const r = await via("r.test");
  assert.equal(r.status, 502);
  const lr = await p.session(2);
  assert.equal(lr.outcome, "502");
  assert.equal(lr.error_code, "E_TLS_FAILED");
  assert.equal(rogue.requests + good2.requests, 0, "no request reached a server that did not verify");
  assert.equal(c.ended, false, "a 502 the proxy gives keeps the client connection");
  await activeBackToZero(p, rogue.port);
  await activeBackToZero(p, good.port);
});

test("upstream TLS: an idle connection the server closes is dropped; the next request goes through without a failed try", {
  timeout: 30_000,
}, async (t) => {
  // The server's keep-alive timeout, far below the proxy's 4 s: it closes idle connections first.
  const origin = await startHttpsOrigin(
    t,
    "server",
    (req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": "2" });
      res.end("ok");
    },
    200,
  );
  const p = await proxyWith(t, "  - { listener: web, pool: s }", tlsPool("s", [[origin.port, CA_TLS]]));
  const c = await RawClient.open(t, p.port("web"));
  assert.equal((await c.request(GET("/1"))).status, 200);
  await until(() => origin.closedConns >= 1, 5_000, "the server closing its idle connection");
  assert.equal((await c.request(GET("/2"))).status, 200);
  assert.equal(origin.handshakes, 2);
  const line = await p.session(1);
  assert.equal(line.outcome, "200");
  assert.equal(line.failed_attempts, undefined);
});

test("upstream TLS: a plain HTTP server listed with tls: 502 with E_TLS_FAILED, or the next server", {
  timeout: 30_000,
}, async (t) => {
  const plain = await startOrigin(t, "plain");
  const good = await startHttpsOrigin(t, "server", (req, res) => {
    req.resume();
    res.writeHead(200, { "content-length": "4" });
    res.end("good");
  });
  const routes = [
    "  - { listener: web, match: { host: one.test }, pool: one }",
    "  - { listener: web, match: { host: two.test }, pool: two }",
  ].join("\n");
  const p = await proxyWith(
    t,
    routes,
    tlsPool("one", [[plain.port, CA_TLS]]) +
      tlsPool("two", [
        [plain.port, CA_TLS],
        [good.port, CA_TLS],
      ]),
  );
  const c = await RawClient.open(t, p.port("web"));
  const one = await c.request("GET / HTTP/1.1\r\nHost: one.test\r\n\r\n");
  assert.equal(one.status, 502);
  assert.equal((await p.session(0)).error_code, "E_TLS_FAILED");
  const two = await c.request("GET / HTTP/1.1\r\nHost: two.test\r\n\r\n");
  assert.equal(two.body.toString(), "good");
  assert.deepEqual(
    ((await p.session(1)).failed_attempts as { code: string }[]).map((f) => f.code),
    ["E_TLS_FAILED"],
  );
  assert.equal(plain.requests, 0);
  await activeBackToZero(p, plain.port);
});

// 3. Upgrade edges.

for (const [status, reason, closes] of [
  [200, "OK", false],
  [404, "Not Found", true],
] as const) {
  test(`an upgrade the server answers ${status} instead of 101: the client gets that answer, the log line has ${status}`, {
    timeout: 30_000,
  }, async (t) => {
    const origin = await startTunnelOrigin(t, (_head, c) => {
      const a = answer(status, reason, `no upgrade (${status})`, closes ? ["Connection: close"] : []);
      if (closes) c.sock.end(a);
      else c.sock.write(a);
    });
    const p = await proxyTo(t, origin.port);
    const c = await RawClient.open(t, p.port("web"));
    c.write(UPGRADE("/ws"));
    const r = await c.response();
    assert.equal(r.status, status);
    assert.equal(r.body.toString(), `no upgrade (${status})`);
    if (closes) await c.endedWithin();
    else c.sock.end();
    const line = await p.session(0);
    assert.equal(line.outcome, String(status));
    assert.equal(line.status, status);
    assert.equal(line.server, `127.0.0.1:${origin.port}`);
    await activeBackToZero(p, origin.port);
  });
}

test("bytes pipelined right after the upgrade head (early WebSocket frames) reach the server after the head", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startTunnelOrigin(t, (_head, c) => {
    // An echo of every byte after the head: those that came with it, then the rest.
    c.sock.write(SWITCHING);
    c.sock.write(c.bytes.subarray(c.headEnd));
    c.sock.on("data", (d: Buffer) => c.sock.write(d));
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const early = Buffer.concat([wsFrame("early one"), wsFrame("early two")]);
  c.write(Buffer.concat([Buffer.from(UPGRADE("/ws"), "latin1"), early]));
  const o = await (async () => {
    await until(() => origin.conns.length === 1, 5_000, "the upstream connection");
    return origin.conns[0]!;
  })();
  await until(
    () => o.headEnd >= 0 && o.bytes.length - o.headEnd >= early.length,
    5_000,
    "the early frames at the server",
  );
  assert.ok(o.bytes.subarray(o.headEnd).equals(early), "the frames, whole, right after the head");
  assert.match(o.bytes.toString("latin1", 0, o.headEnd), /^GET \/ws HTTP\/1\.1\r\n/);
  assert.match(o.bytes.toString("latin1", 0, o.headEnd), /\r\nUpgrade: websocket\r\n/i);
  // The 101, then the frames echoed back; then a frame after the 101 goes both ways too.
  await c.until(() => c.all.length >= SWITCHING.length + early.length, 5_000, "the 101 and the echo");
  assert.equal(c.all.toString("latin1", 0, SWITCHING.length), SWITCHING);
  assert.ok(c.all.subarray(SWITCHING.length).equals(early));
  const later = wsFrame("later");
  c.write(later);
  await c.until(
    () => c.all.length >= SWITCHING.length + early.length + later.length,
    5_000,
    "the later echo",
  );
  c.sock.end();
  const line = await p.session(0);
  assert.equal(line.outcome, "101");
  await activeBackToZero(p, origin.port);
});

test("bytes sent after the upgrade head in a later write, while the relay is still connecting, reach the server", {
  timeout: 30_000,
}, async (t) => {
  // The first server never accepts (connect_timeout 300ms): the relay is connecting that long,
  // and the client connection, handed over by its reader, must hold what comes meanwhile.
  const hole = await startBlackhole();
  t.after(() => hole.close());
  const origin = await startTunnelOrigin(t, (_head, c) => c.sock.write(SWITCHING));
  const pools = pool("a", [hole.port, origin.port], "    connect_timeout: 300ms\n").replace(
    "round-robin",
    "failover",
  );
  const p = await proxyWith(t, "  - { listener: web, pool: a }", pools);
  const c = await RawClient.open(t, p.port("web"));
  c.sock.setNoDelay(true);
  const early = Buffer.from("\x81\x05early", "latin1");
  c.sock.write(UPGRADE("/ws"), "latin1", () => c.sock.write(early));
  await c.until(() => c.all.includes("101 Switching"), 5_000, "the 101");
  const o = origin.conns[0]!;
  // Written long before the 101: by now it would have reached the server.
  const later = Buffer.from("\x81\x05later", "latin1");
  c.write(later);
  await until(() => o.bytes.includes("later"), 5_000, "a frame sent after the 101");
  assert.equal(
    o.bytes.subarray(o.headEnd).toString("latin1"),
    Buffer.concat([early, later]).toString("latin1"),
    "the frame sent while the relay was connecting was lost",
  );
  c.sock.end();
  const line = await p.session(0);
  assert.equal(line.outcome, "101");
  assert.equal((line.failed_attempts as unknown[]).length, 1, "the server that never accepted");
  await activeBackToZero(p, origin.port);
});

test("a request, then an upgrade on the same keep-alive connection (pipelined): both served in order", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startTunnelOrigin(t, (head, c) => {
    if (head.startsWith("GET /plain ")) {
      // The plain request's answer; the upgrade comes on this connection or another.
      c.sock.write(answer(200, "OK", "plain"));
      c.headEnd = -1;
      c.bytes = Buffer.alloc(0);
    } else {
      c.sock.write(SWITCHING);
      c.sock.on("data", (d: Buffer) => c.sock.write(d));
    }
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/plain") + UPGRADE("/ws"));
  const r = await c.response();
  assert.equal(r.body.toString(), "plain");
  await c.until(() => c.buf.includes("\r\n\r\n"), 5_000, "the 101");
  assert.equal(c.buf.toString("latin1"), SWITCHING);
  const frame = wsFrame("ping");
  c.write(frame);
  await c.until(() => c.buf.length >= SWITCHING.length + frame.length, 5_000, "the echo");
  assert.ok(c.buf.subarray(SWITCHING.length).equals(frame));
  c.sock.end();
  await until(() => p.sessions().length === 2, 5_000, "two log lines");
  assert.deepEqual(
    p.sessions().map((l) => l.outcome),
    ["200", "101"],
  );
  await activeBackToZero(p, origin.port);
});

test("an Upgrade in an HTTP/1.0 request is a plain request: no Upgrade upstream, an answer, then close", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  let upgrades = 0;
  origin.server.on("upgrade", (_req, sock: Socket) => {
    upgrades++;
    sock.destroy();
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write("GET /chat HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), "GET /chat []");
  await c.endedWithin();
  // Asking keep-alive too: a plain request on a connection that stays open.
  const c2 = await RawClient.open(t, p.port("web"));
  const r2 = await c2.request(
    "GET /chat2 HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, keep-alive\r\n\r\n",
  );
  assert.equal(r2.status, 200);
  assert.equal(r2.get("connection"), "keep-alive");
  assert.equal((await c2.request("GET /next HTTP/1.0\r\nHost: a\r\n\r\n")).body.toString(), "GET /next []");
  assert.equal(upgrades, 0);
  for (const s of origin.seen) {
    assert.equal(s.headers.upgrade, undefined, s.url);
    assert.doesNotMatch(String(s.headers.connection ?? ""), /upgrade/i, s.url);
  }
  const line = await p.session(0);
  assert.equal(line.outcome, "200");
  assert.equal(line.method, "GET");
});

// 4. Drain and reload with requests in flight.

test("drain: an idle keep-alive client and one that sent nothing are closed; the drain ends", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port);
  const l = p.proxy.runtime.listener("web") as HttpListener;
  const idle = await RawClient.open(t, p.port("web"));
  assert.equal((await idle.request(GET("/one"))).status, 200);
  const silent = await RawClient.open(t, p.port("web"));
  await until(() => p.sessions().length === 1, 5_000, "the first log line");
  const t0 = performance.now();
  const drained = l.drain(Date.now() + 10_000);
  await idle.endedWithin(2_000);
  await silent.endedWithin(2_000);
  await within(drained, 5_000, "the drain");
  t.diagnostic(`closed and drained in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(idle.buf.length, 0, "no answer of any kind");
  assert.equal(l.sessions, 0);
});

test("drain with a request in flight: an answer not yet begun sayBack Connection: close; one begun finishes; nothing after is read", {
  timeout: 30_000,
}, async (t) => {
  // /wait: the test answers later; /stream: head and a first chunk now, the rest later.
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/stream")
      c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
  });
  const p = await proxyTo(t, origin.port);
  const l = p.proxy.runtime.listener("web") as HttpListener;
  const waiting = await RawClient.open(t, p.port("web"), true);
  const streaming = await RawClient.open(t, p.port("web"), true);
  waiting.write(GET("/wait") + GET("/behind-wait"));
  streaming.write(GET("/stream"));
  await streaming.until(() => streaming.all.includes("first"), 5_000, "the first chunk");
  await origin.until(() => origin.seen.length === 2, 5_000, "both requests at the origin");
  const drained = l.drain(Date.now() + 10_000);
  const waitConn = origin.conns.find((x) =>
    origin.seen.some((s) => s.conn === x.id && s.target === "/wait"),
  )!;
  const streamConn = origin.conns.find((x) => x !== waitConn)!;
  waitConn.sock.write(answer(200, "OK", "late"));
  streamConn.sock.write("6\r\nsecond\r\n0\r\n\r\n");
  const a = await waiting.response();
  assert.equal(a.body.toString(), "late");
  assert.equal(a.get("connection"), "close", "an answer begun after the drain closes its connection");
  await waiting.endedWithin();
  const b = await streaming.response();
  assert.equal(b.body.toString(), "firstsecond", "an answer begun before the drain finishes");
  await streaming.endedWithin();
  waiting.write(GET("/after-close"));
  await within(drained, 5_000, "the drain");
  assert.deepEqual(origin.seen.map((s) => s.target).sort(), ["/stream", "/wait"], "nothing read after");
  for (const i of [0, 1]) assert.equal((await p.session(i)).outcome, "200");
  await activeBackToZero(p, origin.port);
});

test("a reload that removes the server of in-flight answers lets them finish; new requests go to the new server", {
  timeout: 30_000,
}, async (t) => {
  const old = await startRawOrigin(t, (h, c) => {
    if (h.target === "/slow-body") c.sock.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf-");
  });
  const fresh = await startOrigin(t, "fresh", sayBack);
  const routes = "  - { listener: web, pool: a }";
  const p = await proxyWith(t, routes, pool("a", [old.port]));
  const port = p.port("web");
  const body = await RawClient.open(t, port);
  const head = await RawClient.open(t, port);
  body.write(GET("/slow-body"));
  head.write(GET("/slow-head"));
  await body.until(() => body.all.includes("half-"), 5_000, "half of the body");
  await old.until(() => old.seen.length === 2, 5_000, "both requests at the old server");
  assert.equal(active(p, old.port), 2);
  p.writeConfig(httpConfig(routes, pool("a", [fresh.port])));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  // A new request goes to the new server while the old one still owes two answers.
  const n = await RawClient.open(t, port);
  assert.equal((await n.request(GET("/new"))).body.toString(), "GET /new []");
  const connOf = (target: string) => old.conns[old.seen.find((s) => s.target === target)!.conn]!;
  connOf("/slow-body").sock.write("done!");
  connOf("/slow-head").sock.write(answer(200, "OK", "head came late"));
  const rb = await body.response();
  assert.equal(rb.body.toString(), "half-done!");
  const rh = await head.response();
  assert.equal(rh.body.toString(), "head came late");
  // The old server's connections close once their answers are done.
  await old.until(() => old.conns.every((c) => c.closed), 5_000, "the old server's connections closed");
  await until(() => p.sessions().length === 3, 5_000, "three log lines");
  for (const l of p.sessions()) assert.equal(l.outcome, "200", String(l.path));
  assert.deepEqual(
    p
      .sessions()
      .map((l) => [l.path, l.server])
      .sort(),
    [
      ["/new", `127.0.0.1:${fresh.port}`],
      ["/slow-body", `127.0.0.1:${old.port}`],
      ["/slow-head", `127.0.0.1:${old.port}`],
    ],
  );
  await activeBackToZero(p, old.port);
  await activeBackToZero(p, fresh.port);
  // And the kept client connections go on, to the new server.
  assert.equal((await body.request(GET("/again"))).body.toString(), "GET /again []");
});

test("a reload that lowers upstream_timeout replaces the listener: an idle client of the old one is closed, a new one gets 504 after the new bound", {
  timeout: 30_000,
}, async (t) => {
  const silent = await startRawOrigin(t, (h, c) => {
    if (h.target !== "/x") c.sock.write(answer(200, "OK", "fine"));
  });
  const routes = "  - { listener: web, pool: a }";
  const p = await proxyWith(t, routes, pool("a", [silent.port]), ", upstream_timeout: 20s");
  const port = p.port("web");
  const old = await RawClient.open(t, port);
  assert.equal((await old.request(GET("/before"))).status, 200);
  p.writeConfig(httpConfig(routes, pool("a", [silent.port]), ", upstream_timeout: 500ms"));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  // (Listening on port 0, the new listener has a port of its own.)
  await old.endedWithin(5_000);
  const c = await RawClient.open(t, p.port("web"));
  const t0 = performance.now();
  const r = await c.request(GET("/x"), "GET", 6_000);
  const ms = performance.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(ms < 3_000, `504 after ${ms.toFixed(0)} ms`);
  assert.equal((await lineFor(p, "/x")).error_code, "E_UPSTREAM_TIMEOUT");
  await activeBackToZero(p, silent.port);
});

// 5. Misbehaving servers.

test("a server that answers before reading the body, then resets: the client gets that answer and the connection closes", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write(answer(403, "Forbidden", "nope"));
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"), true);
  c.write("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
  c.write(Buffer.alloc(32 * 1024, 0x61));
  const r = await c.response("POST");
  assert.equal(r.status, 403);
  assert.equal(r.body.toString(), "nope");
  assert.equal(r.get("connection"), "close", "the body was not read: the connection cannot go on");
  // The reset, unless the proxy has closed that connection already (a reset after the FIN
  // that answered it fails in Node and leaves the socket's handle open for good).
  const up = origin.conns[0]?.sock;
  if (up?.writableEnded === false) up.resetAndDestroy();
  else up?.destroy();
  c.write(Buffer.alloc(32 * 1024, 0x62));
  await c.endedWithin();
  const line = await p.session(0);
  assert.equal(line.outcome, "403");
  assert.equal(line.error_code, undefined);
  await activeBackToZero(p, origin.port);
});

test("a server that resets right after an early answer, and one that resets mid-answer: never a hang", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/race") c.sock.write(answer(403, "Forbidden", "nope"), () => c.sock.resetAndDestroy());
    else
      c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${"x".repeat(1000)}`, () =>
        setImmediate(() => c.sock.resetAndDestroy()),
      );
  });
  const p = await proxyTo(t, origin.port);
  for (const [i, path] of ["/race", "/mid"].entries()) {
    const c = await RawClient.open(t, p.port("web"));
    c.write(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n`);
    c.write(Buffer.alloc(16 * 1024, 0x61));
    await c.endedWithin();
    const got = parseResponse(c.all, "POST", false);
    const line = await p.session(i);
    // Either the answer (or part of it) got out before the reset, or the client got a 502.
    if (got !== undefined) {
      assert.equal(got.r.status, path === "/race" ? 403 : 502, path);
      assert.equal(line.status, got.r.status, path);
    } else {
      assert.equal(path, "/mid", "only the answer with a long body can be cut");
      assert.ok(c.all.includes("HTTP/1.1 200 OK"));
      assert.equal(line.error_code, "E_UPSTREAM_GONE");
    }
    await activeBackToZero(p, origin.port);
  }
});

test("a server that sends more than one answer: the extra bytes are never given to the next request", {
  timeout: 30_000,
}, async (t) => {
  const SECOND = answer(200, "OK", "SECOND (not asked for)");
  // Each way of saying too much. (Bytes in the same read as a bodiless answer:
  // http-wire-edges-bugs.test.ts.)
  const origin = await startRawOrigin(t, (h, c) => {
    const own = `conn ${c.id} ${h.target}`;
    if (h.target === "/same-write") c.sock.write(answer(200, "OK", own) + SECOND);
    else if (h.target === "/later-write") c.sock.write(answer(200, "OK", own), () => c.sock.write(SECOND));
    else if (h.target === "/chunked")
      c.sock.write(
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${own.length.toString(16)}\r\n${own}\r\n0\r\n\r\n${SECOND}`,
      );
    else if (h.target === "/204-later")
      c.sock.write("HTTP/1.1 204 No Content\r\n\r\n", () => c.sock.write(SECOND));
    else if (h.method === "HEAD")
      c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${own.length}\r\n\r\n`, () => c.sock.write(own));
    else c.sock.write(answer(200, "OK", own));
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const cases: [string, string][] = [
    ["GET", "/same-write"],
    ["GET", "/later-write"],
    ["GET", "/chunked"],
    ["GET", "/204-later"],
    ["HEAD", "/head-with-body-later"],
  ];
  for (const [method, path] of cases) {
    const r = await c.request(`${method} ${path} HTTP/1.1\r\nHost: a\r\n\r\n`, method);
    const bad = origin.seen.find((s) => s.target === path)!.conn;
    if (path === "/204-later") assert.equal(r.status, 204);
    else if (method === "GET") assert.equal(r.body.toString(), `conn ${bad} ${path}`);
    // The connection that said too much is closed, not kept for the next request.
    await origin.until(() => origin.conns[bad]?.closed === true, 5_000, `${path}: its connection closed`);
    const next = await c.request(GET(`/after${path}`));
    assert.match(next.body.toString(), new RegExp(`^conn \\d+ /after${path}$`), `after ${path}`);
    assert.notEqual(origin.seen.find((s) => s.target === `/after${path}`)?.conn, bad);
    assert.equal(c.buf.length, 0, `${path}: no stray bytes`);
  }
  assert.ok(!c.all.includes("SECOND"), "the extra answer reached the client");
  assert.equal(c.ended, false);
  await activeBackToZero(p, origin.port);
});

test("a chunked answer that turns bad mid-stream: the client connection is cut, not left hanging", {
  timeout: 30_000,
}, async (t) => {
  const bad = ["zz\r\n", "5\r\nabcdeXX\r\n", "5;\x01\r\nabcde\r\n", "0\r\n folded: trailer\r\n\r\n"];
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  });
  const p = await proxyTo(t, origin.port);
  for (const [i, b] of bad.entries()) {
    const c = await RawClient.open(t, p.port("web"));
    c.write(GET(`/bad${i}`));
    // The bad bytes in a later read than the good chunk, which has reached the client.
    await c.until(() => c.all.includes("hello"), 5_000, "the first chunk");
    origin.conns.at(-1)?.sock.write(b);
    await c.endedWithin(5_000);
    assert.equal(parseResponse(c.all, "GET", false), undefined, `${JSON.stringify(b)}: never whole`);
    const line = await p.session(i);
    assert.equal(line.error_code, "E_UPSTREAM_GONE", JSON.stringify(b));
    assert.equal(line.outcome, "aborted");
    await activeBackToZero(p, origin.port);
  }
  await origin.until(() => origin.conns.every((c) => c.closed), 5_000, "every upstream connection closed");
});

test("a server whose answer head and chunked body arrive one byte at a time: the answer is whole", {
  timeout: 30_000,
}, async (t) => {
  const text =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: yes\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.setNoDelay(true);
    let i = 0;
    const one = () => {
      if (c.sock.destroyed) return;
      c.sock.write(text[i++] as string, "latin1");
      if (i < text.length) setImmediate(one);
    };
    one();
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  for (const path of ["/1", "/2"]) {
    const r = await c.request(GET(path));
    assert.equal(r.status, 200);
    assert.equal(r.get("x-slow"), "yes");
    assert.equal(r.body.toString(), "hello world");
    assert.deepEqual(r.trailers, [["X-T", "1"]]);
  }
  assert.equal(origin.conns.length, 1);
  assert.equal((await p.session(1)).outcome, "200");
});

test("an answer head with obs-fold, a bare LF or a bare CR: 502, and the connection is not reused", {
  timeout: 30_000,
}, async (t) => {
  const heads: Record<string, string> = {
    "/fold": "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok",
    "/fold-cl": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 0\r\n\r\nok",
    "/lf-field": "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok",
    "/lf-status": "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
    "/cr-field": "HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok",
  };
  const origin = await startRawOrigin(t, (h, c) => {
    c.sock.write(heads[h.target] ?? answer(200, "OK", `fine ${c.id}`));
  });
  // max_fails: 0, so that five bad answers in a row do not take the server out.
  const p = await proxyWith(
    t,
    "  - { listener: web, pool: a }",
    pool("a", [origin.port], "    max_fails: 0\n"),
  );
  const c = await RawClient.open(t, p.port("web"));
  let i = 0;
  for (const path of Object.keys(heads)) {
    const r = await c.request(GET(path));
    assert.equal(r.status, 502, path);
    const line = await p.session(i++);
    assert.equal(line.outcome, "502", path);
    assert.equal(line.error_code, "E_UPSTREAM_GONE", path);
    assert.match(String(line.error), /bad response/, path);
    await origin.until(() => origin.conns.at(-1)?.closed === true, 5_000, `${path}: upstream closed`);
  }
  assert.equal(c.ended, false, "the client connection goes on");
  const conns = origin.conns.length;
  assert.equal((await c.request(GET("/fine"))).body.toString(), `fine ${conns}`);
  await activeBackToZero(p, origin.port);
});

test("a server that accepts and never answers: 504 after upstream_timeout, its slots released", {
  timeout: 30_000,
}, async (t) => {
  // One connection per server: the hung request's connection must be given back for the next.
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target !== "/hang") c.sock.write(answer(200, "OK", `answered ${h.target}`));
  });
  const p = await proxyTo(t, origin.port, ", upstream_timeout: 500ms, upstream_connections: 1");
  const c = await RawClient.open(t, p.port("web"));
  for (const method of ["GET", "POST"]) {
    const t0 = performance.now();
    const req =
      method === "GET" ? GET("/hang") : "POST /hang HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    const r = await c.request(req, method, 5_000);
    const ms = performance.now() - t0;
    assert.equal(r.status, 504, method);
    assert.ok(ms >= 450 && ms < 3_000, `${method}: 504 after ${ms.toFixed(0)} ms`);
    await activeBackToZero(p, origin.port);
    assert.equal((await c.request(GET("/next"))).body.toString(), "answered /next");
  }
  const lines = p.sessions().filter((l) => l.path === "/hang");
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.outcome, "504");
    assert.equal(l.error_code, "E_UPSTREAM_TIMEOUT");
  }
  await origin.until(
    () => origin.conns.filter((x) => x.closed).length >= 2,
    5_000,
    "the hung connections closed",
  );
});

test("a GET to a silent server is tried on the next server; a POST is not", {
  timeout: 30_000,
}, async (t) => {
  const silent = await startRawOrigin(t, () => {});
  const fine = await startOrigin(t, "fine", sayBack);
  const p = await proxyWith(
    t,
    "  - { listener: web, pool: a }",
    pool("a", [silent.port, fine.port]).replace("round-robin", "failover"),
    ", upstream_timeout: 400ms",
  );
  const c = await RawClient.open(t, p.port("web"));
  const g = await c.request(GET("/g"), "GET", 5_000);
  assert.equal(g.status, 200);
  assert.equal(g.body.toString(), "GET /g []");
  const lg = await p.session(0);
  assert.deepEqual(
    (lg.failed_attempts as { code: string }[]).map((f) => f.code),
    ["E_UPSTREAM_TIMEOUT"],
  );
  const post = await c.request("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", "POST", 5_000);
  assert.equal(post.status, 504);
  assert.equal(fine.seen.filter((s) => s.url === "/p").length, 0, "the POST was not repeated");
  await activeBackToZero(p, silent.port);
  await activeBackToZero(p, fine.port);
});

test("a Content-Length larger than what a server sends before its FIN, after 200 KiB: the client is cut, not hung", {
  timeout: 30_000,
}, async (t) => {
  const sent = pattern(200 * 1024);
  const origin = await startRawOrigin(t, (_h, c) => {
    c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
    c.sock.end(sent);
  });
  const p = await proxyTo(t, origin.port);
  for (const [i, slow] of [false, true].entries()) {
    const c = await RawClient.open(t, p.port("web"));
    if (slow) readSlowly(c.sock, 5);
    c.write(GET("/short"));
    await c.endedWithin(10_000);
    const end = c.all.indexOf("\r\n\r\n");
    assert.ok(end > 0);
    assert.ok(c.all.subarray(end + 4).equals(sent), "what was sent, then the cut");
    assert.equal(parseResponse(c.all, "GET", false), undefined);
    const line = await p.session(i);
    assert.equal(line.error_code, "E_UPSTREAM_GONE");
    assert.equal(line.outcome, "aborted");
    await activeBackToZero(p, origin.port);
  }
});

// 6. Limits.

test("max_connections: a connection beyond it is closed at once; a place freed takes a new one", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port, ", max_connections: 2");
  const port = p.port("web");
  const a = await RawClient.open(t, port);
  const b = await RawClient.open(t, port);
  assert.equal((await a.request(GET("/a"))).status, 200);
  assert.equal((await b.request(GET("/b"))).status, 200);
  for (let i = 0; i < 3; i++) {
    const over = await RawClient.open(t, port);
    over.write(GET("/over"));
    await over.endedWithin(5_000);
    assert.equal(over.all.length, 0, "no answer to a refused connection");
  }
  assert.equal((await a.request(GET("/a2"))).status, 200, "the two admitted go on");
  a.sock.destroy();
  // The freed place: a new connection gets in once the proxy has seen the close.
  let got: number | undefined;
  const deadline = Date.now() + 5_000;
  while (got === undefined && Date.now() < deadline) {
    const n = await RawClient.open(t, port);
    n.write(GET("/new"));
    try {
      got = (await n.final("GET", 2_000)).r.status;
    } catch {
      n.sock.destroy();
    }
  }
  assert.equal(got, 200);
  assert.equal(
    origin.seen.filter((s) => s.url === "/over").length,
    0,
    "no request of a refused connection was served",
  );
});

/** A request head of exactly `size` bytes (its empty line included), padded in one field. */
function headOf(size: number, path = "/exact"): string {
  const base = `GET ${path} HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n`;
  return base.replace("X-Pad: ", `X-Pad: ${"p".repeat(size - base.length)}`);
}

test("max_header_size: a head of exactly the limit passes (whole, in pieces, pipelined); one byte more gets 431", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyTo(t, origin.port, ", max_header_size: 2048");
  const port = p.port("web");
  const exact = headOf(2048);
  assert.equal(exact.length, 2048);
  const over = headOf(2049, "/over");

  const c = await RawClient.open(t, port);
  assert.equal((await c.request(exact)).status, 200);
  // In pieces whose sum is the limit, the empty line cut by the last piece.
  for (const cut of [[1000, 2047], [1, 2046], [2044]]) {
    let at = 0;
    for (const k of [...cut, 2048]) {
      c.write(exact.slice(at, k));
      at = k;
    }
    assert.equal((await c.response()).status, 200, `cut at ${cut.join(",")}`);
  }
  // Pipelined behind each other: the buffer holds more than the limit, each head does not.
  c.write(exact + exact + GET("/small"));
  for (let i = 0; i < 3; i++) assert.equal((await c.response()).status, 200);
  assert.equal(c.ended, false);

  for (const pieces of [
    [over],
    [over.slice(0, 2000), over.slice(2000)],
    [over.slice(0, 2049 - 3), over.slice(-3)],
  ]) {
    const o = await RawClient.open(t, port);
    for (const x of pieces) o.write(x);
    const r = await o.response();
    assert.equal(r.status, 431, `${pieces.length} piece(s)`);
    await o.endedWithin();
  }
  // A head that never ends, past the limit: 431 too.
  const endless = await RawClient.open(t, port);
  endless.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ${"q".repeat(3000)}`);
  assert.equal((await endless.response()).status, 431);
  await endless.endedWithin();
  assert.equal(
    origin.seen.filter((s) => s.url === "/over").length,
    0,
    "no oversized head reached the origin",
  );
  assert.equal(origin.seen.filter((s) => s.url === "/exact").length, 6);
});

test("256 fields in a request head pass, 257 get 431; the same bound holds for an answer head (502)", {
  timeout: 30_000,
}, async (t) => {
  const fields = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => `${prefix}-${i}: v${i}\r\n`).join("");
  const origin = await startRawOrigin(t, (h, c) => {
    const n = Number(h.target.slice(1));
    c.sock.write(`HTTP/1.1 200 OK\r\n${fields(n, "X-R")}Content-Length: 2\r\n\r\nok`);
  });
  const p = await proxyTo(t, origin.port);
  const port = p.port("web");
  // Host and 255 more: 256.
  const req = (n: number) => `GET /1 HTTP/1.1\r\nHost: a\r\n${fields(n, "X-F")}\r\n`;
  const c = await RawClient.open(t, port);
  assert.equal((await c.request(req(255))).status, 200);
  const seen = origin.seen[0]!;
  assert.equal(seen.fields.filter(([n]) => n.startsWith("X-F-")).length, 255, "every field passed on");
  const o = await RawClient.open(t, port);
  const r = await o.request(req(256));
  assert.equal(r.status, 431);
  await o.endedWithin();
  assert.equal(origin.seen.length, 1);
  // An answer of 255 fields and Content-Length passes; one of 256 and Content-Length does not.
  const ok = await c.request(GET("/255"));
  assert.equal(ok.status, 200);
  assert.equal(ok.fields.filter(([n]) => n.startsWith("X-R-")).length, 255);
  const bad = await c.request(GET("/256"));
  assert.equal(bad.status, 502);
  assert.equal((await lineFor(p, "/256")).error_code, "E_UPSTREAM_GONE");
  await activeBackToZero(p, origin.port);
});

test("a chunk extension over the limit: a request's gets 400 and a close, an answer's (before any byte left) 502; at the limit both pass", {
  timeout: 30_000,
}, async (t) => {
  // The limit of a request's chunk extension is max_header_size; of an answer's, 16 KiB.
  const answerExt = (n: number) =>
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;${"e".repeat(n)}\r\nok\r\n0\r\n\r\n`;
  const answers = await startRawOrigin(t, (h, c) => {
    c.sock.write(answerExt(h.target === "/ans-at" ? 16 * 1024 : 16 * 1024 + 1));
  });
  const bodies = await startOrigin(t, "bodies", sayBack);
  const routes = [
    "  - { listener: web, match: { host: ans }, pool: ans }",
    "  - { listener: web, match: { host: req }, pool: req }",
  ].join("\n");
  const p = await proxyWith(
    t,
    routes,
    pool("ans", [answers.port]) + pool("req", [bodies.port]),
    ", max_header_size: 2048",
  );
  const port = p.port("web");
  // A chunk extension of `n` bytes after its ";".
  const post = (path: string, n: number) =>
    `POST ${path} HTTP/1.1\r\nHost: req\r\nTransfer-Encoding: chunked\r\n\r\n5;${"x".repeat(n)}\r\nhello\r\n0\r\n\r\n`;

  const c = await RawClient.open(t, port);
  const at = await c.request(post("/req-at", 2048), "POST");
  assert.equal(at.status, 200);
  assert.equal(at.body.toString(), "POST /req-at [hello]");

  const o = await RawClient.open(t, port);
  o.write(post("/req-over", 2049));
  await o.endedWithin();
  assert.equal(parseResponse(o.all, "POST", true)?.r.status, 400, "400, then the connection is closed");
  assert.notEqual((await lineFor(p, "/req-over")).outcome, "200");
  assert.equal(bodies.seen.filter((s) => s.url === "/req-over").length, 1, "its head went on");
  await until(() => bodies.sockets.size === 1, 5_000, "the upstream connection of the bad body closed");

  const ra = await c.request("GET /ans-at HTTP/1.1\r\nHost: ans\r\n\r\n");
  assert.equal(ra.body.toString(), "ok");
  // The bad chunk comes before any byte of the answer reached the client: 502.
  const cut = await RawClient.open(t, port);
  assert.equal((await cut.request("GET /ans-over HTTP/1.1\r\nHost: ans\r\n\r\n")).status, 502);
  assert.equal((await lineFor(p, "/ans-over")).error_code, "E_UPSTREAM_GONE");
  await activeBackToZero(p, answers.port);
  await activeBackToZero(p, bodies.port);
});
