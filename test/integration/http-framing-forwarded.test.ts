// Who the client is, as the server is told (RFC 7239): a client's own X-Real-IP never reaches
// the server (the proxy writes the address it saw), and a client's Forwarded gets this hop's
// element appended last, as X-Forwarded-For gets the address: a server that reads the last
// element reads the proxy's. A Forwarded value that could swallow that element (an open
// quote) is not passed on; an IPv6 address is bracketed and quoted (RFC 7239 §6).
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { pool } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";
import { answer, proxyTo, RawClient, type SeenHead, startRawOrigin, within } from "../helpers/raw-http.ts";

/** The values of `name` as the server read them, field line by field line. */
const lines = (h: SeenHead | undefined, name: string) =>
  (h?.fields ?? []).filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

test("a client's X-Real-IP and Forwarded: the server gets the proxy's X-Real-IP and its Forwarded element last", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.write(answer(200, "OK", "ok")));
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const spoof = "X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6;proto=https\r\nForwarded: for=7.7.7.7\r\n";
  assert.equal((await c.request(`GET /a HTTP/1.1\r\nHost: a:8080\r\n${spoof}\r\n`)).status, 200);
  const h = origin.seen[0];
  t.diagnostic(
    `X-Real-IP ${JSON.stringify(lines(h, "x-real-ip"))}, Forwarded ${JSON.stringify(lines(h, "forwarded"))}`,
  );
  assert.deepEqual(lines(h, "x-real-ip"), ["127.0.0.1"]);
  assert.deepEqual(lines(h, "forwarded"), [
    'for=6.6.6.6;proto=https, for=7.7.7.7, for=127.0.0.1;proto=http;host="a:8080"',
  ]);
  assert.deepEqual(lines(h, "x-forwarded-for"), ["127.0.0.1"]);
});

test("a Forwarded value with an open quote is not passed on: the proxy's element is the only one", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.write(answer(200, "OK", "ok")));
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const req = `GET /a HTTP/1.1\r\nHost: a\r\nForwarded: for="6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n`;
  assert.equal((await c.request(req)).status, 200);
  const h = origin.seen[0];
  t.diagnostic(`Forwarded ${JSON.stringify(lines(h, "forwarded"))}`);
  assert.deepEqual(lines(h, "forwarded"), ["for=127.0.0.1;proto=http;host=a"]);
  assert.deepEqual(lines(h, "x-real-ip"), ["127.0.0.1"]);
});

test('a client on IPv6: Forwarded for="[::1]", X-Real-IP ::1', { timeout: 15_000 }, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.write(answer(200, "OK", "ok")));
  const p = await startProxy(`
listeners:
  - { name: web, protocol: http, listen: "[::1]:0" }
routes:
  - { listener: web, pool: a }
pools:
${pool("a", [origin.port])}`);
  t.after(() => p.close());
  const s = connect({ port: p.port("web"), host: "::1" });
  s.on("error", () => {});
  t.after(() => s.destroy());
  await within(new Promise((r) => s.once("connect", r)), 5_000, "connect over IPv6");
  const c = new RawClient(s);
  assert.equal((await c.request("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")).status, 200);
  const h = origin.seen[0];
  t.diagnostic(
    `Forwarded ${JSON.stringify(lines(h, "forwarded"))}, X-Real-IP ${JSON.stringify(lines(h, "x-real-ip"))}`,
  );
  assert.deepEqual(lines(h, "forwarded"), ['for="[::1]";proto=http;host=a']);
  assert.deepEqual(lines(h, "x-real-ip"), ["::1"]);
});

test("a Forwarded value built to make a regex backtrack (x=y ; ; ; ... with a quote at the end): answered at once, left out", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => c.sock.write(answer(200, "OK", "ok")));
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const started = performance.now();
  const req = `GET /a HTTP/1.1\r\nHost: a\r\nForwarded: x=y${" ; ".repeat(2_000)}"\r\n\r\n`;
  assert.equal((await c.request(req)).status, 200);
  const ms = performance.now() - started;
  t.diagnostic(`answered in ${ms.toFixed(0)} ms (the regex first written took over 60 s at 20 repeats)`);
  assert.ok(ms < 2_000, `${ms} ms`);
  assert.deepEqual(lines(origin.seen[0], "forwarded"), ["for=127.0.0.1;proto=http;host=a"]);
});
