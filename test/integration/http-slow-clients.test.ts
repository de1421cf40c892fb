// Slow clients cost one timeout, never a file descriptor for good (issue #14): a header never
// finished, a body never finished, a response never read, an idle keep-alive connection.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";

const LIMITS =
  ", header_timeout: 300ms, request_timeout: 600ms, client_timeout: 400ms, idle_timeout: 300ms, upstream_timeout: 300ms";

async function setup(t: TestContext, handler?: Parameters<typeof startOrigin>[2]) {
  const origin = await startOrigin(t, "a", handler);
  const p = await startProxy(httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port]), LIMITS));
  t.after(() => p.close());
  const server = () => p.proxy.runtime.registry.get(`127.0.0.1:${origin.port}`);
  return { origin, p, server };
}

async function rawClient(t: TestContext, port: number): Promise<Socket> {
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  t.after(() => s.destroy());
  await once(s, "connect");
  return s;
}

/** Milliseconds until the proxy closes `s` (read to its end: a paused socket never sees a FIN). */
async function closedAfter(s: Socket): Promise<number> {
  const t0 = performance.now();
  s.resume();
  if (!s.destroyed) await once(s, "close");
  return performance.now() - t0;
}

test("a header never finished is closed after header_timeout", { timeout: 30_000 }, async (t) => {
  const { p, origin } = await setup(t);
  const s = await rawClient(t, p.port("web"));
  s.write("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
  const ms = await closedAfter(s);
  t.diagnostic(`closed after ${ms.toFixed(0)} ms`);
  assert.ok(ms >= 250 && ms < 5_000, `${ms}`);
  assert.equal(origin.requests, 0);
});

test("a body never finished is closed after request_timeout and its server slot is given back", {
  timeout: 30_000,
}, async (t) => {
  const { p, server } = await setup(t, (req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const s = await rawClient(t, p.port("web"));
  s.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly ten b");
  await until(() => server()?.active === 1, 5_000, "request on its server");
  const ms = await closedAfter(s);
  t.diagnostic(`closed after ${ms.toFixed(0)} ms`);
  assert.ok(ms < 5_000, `${ms}`);
  await until(() => server()?.active === 0, 5_000, "slot released");
  const line = await p.session(0);
  assert.equal(line.outcome, "aborted");
});

test("a client that stops reading the response is closed after client_timeout", {
  timeout: 30_000,
}, async (t) => {
  const big = Buffer.alloc(1024 * 1024, 0x62);
  const { p, server } = await setup(t, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-length": String(64 * big.length) });
    let n = 0;
    const more = () => {
      while (n < 64) {
        n++;
        if (!res.write(big)) return void res.once("drain", more);
      }
      res.end();
    };
    more();
  });
  const s = await rawClient(t, p.port("web"));
  s.pause(); // reads nothing: the proxy's writes back up
  s.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  await until(() => server()?.active === 1, 5_000, "request on its server");
  const t0 = performance.now();
  // Seen from the proxy: the request ends (its line) and its slot is given back.
  const line = await p.session(0);
  const ms = performance.now() - t0;
  t.diagnostic(`given up after ${ms.toFixed(0)} ms, ${line.bytes_out} bytes relayed`);
  assert.equal(line.outcome, "aborted");
  assert.equal(line.error_code, "E_CLIENT_GONE");
  assert.ok(ms < 10_000, `${ms}`);
  assert.equal(server()?.active, 0);
  await closedAfter(s);
});

test("an idle keep-alive connection is closed after idle_timeout", { timeout: 30_000 }, async (t) => {
  const { p } = await setup(t);
  const s = await rawClient(t, p.port("web"));
  s.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  await once(s, "data");
  const ms = await closedAfter(s);
  t.diagnostic(`closed after ${ms.toFixed(0)} ms`);
  assert.ok(ms >= 200 && ms < 5_000, `${ms}`);
});

test("headers over max_header_size get 431 and the connection closes", { timeout: 30_000 }, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port]), ", max_header_size: 2048"),
  );
  t.after(() => p.close());
  const s = await rawClient(t, p.port("web"));
  let got = "";
  s.on("data", (c: Buffer) => {
    got += c.toString();
  });
  s.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"x".repeat(4096)}\r\n\r\n`);
  await closedAfter(s);
  assert.match(got, /^HTTP\/1\.1 431 /);
  assert.equal(origin.requests, 0);
});
