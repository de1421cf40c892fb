/**
 * Hostile targets of the http health check, against a running proxy: the server's state in
 * the admin API, the sockets the target sees.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminProxy, everyOnSocket, rawPeer, sleep, waitUntil } from "../helpers/peer-attack.ts";

const httpCheckConfig = (port: number, expect = "") => `
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]
routes: [ { listener: web, pool: p } ]
pools:
  p:
    health: { interval: 100ms, timeout: 300ms, rise: 1, fall: 1, checks: [ { http: /healthz${expect} } ] }
    servers: [ { address: 127.0.0.1:${port} } ]
`;

// Covers (passes): a target that trickles its headers forever, or floods 100 Continue and never
// gives a final answer, is down within the check timeout; each check's socket is closed by the
// proxy; a healthy answer brings it back.
test("http check: never-ending headers and endless 100 Continue are failures within the timeout; no socket is held", async () => {
  let mode = "trickle";
  const peer = await rawPeer((s) => {
    s.once("data", () => {
      if (mode === "trickle") {
        s.write("HTTP/1.1 200 OK\r\n");
        everyOnSocket(s, 30, 200, (i) => s.write(`X-${i}: y\r\n`));
      } else if (mode === "continue") {
        s.write("HTTP/1.1 100 Continue\r\n\r\n".repeat(2000));
        everyOnSocket(s, 20, 200, () => s.write("HTTP/1.1 100 Continue\r\n\r\n"));
      } else s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
  });
  const a = await adminProxy(httpCheckConfig(peer.port));
  const addr = `127.0.0.1:${peer.port}`;
  for (const m of ["trickle", "ok", "continue", "ok"]) {
    mode = m;
    const want = m === "ok" ? "up" : "down";
    await waitUntil(async () => (await a.server("p", addr))?.state === want, 4000, `${m}: ${want}`);
    if (want === "down") {
      const reason = (await a.server("p", addr)).layers.health.reason as string;
      assert.match(reason, /no answer within 300ms/, `${m}: ${reason}`);
      let maxOpen = 0;
      for (let i = 0; i < 10; i++) {
        maxOpen = Math.max(maxOpen, peer.open.size);
        await sleep(50);
      }
      assert.ok(maxOpen <= 2, `${m}: ${maxOpen} check sockets open at once`);
    }
  }
});

// Covers (passes): a 200 with a 10 MB body is a pass, but the proxy reads no more than its bound
// and closes: the target cannot make it read the whole body.
test("http check: a 10 MB body is not read to the end; the check passes and the socket is closed early", async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const written: number[] = [];
  const peer = await rawPeer((s) => {
    s.once("data", () => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${160 * chunk.length}\r\n\r\n`);
      let n = 0;
      everyOnSocket(s, 10, 160, () => {
        s.write(chunk);
        n++;
      });
      s.once("close", () => written.push(n));
    });
  });
  const a = await adminProxy(httpCheckConfig(peer.port, ", expect: 200"));
  const addr = `127.0.0.1:${peer.port}`;
  await waitUntil(() => written.length >= 2, 5000, "two checks done");
  assert.equal((await a.server("p", addr)).state, "up");
  assert.equal((await a.server("p", addr)).layers.health.last_probe?.ok, true);
  for (const n of written)
    assert.ok(n < 60, `the target wrote ${n} of 160 64-KiB chunks before the check hung up`);
});

// Covers (passes): a redirect loop is one 3xx answer (HAProxy's default: 2xx/3xx pass), never
// followed: one request per check.
test("http check: a redirect to itself is not followed; one request per check", async () => {
  let requests = 0;
  const peer = await rawPeer((s) => {
    s.on("data", () => {
      requests++;
      s.end("HTTP/1.1 302 Found\r\nLocation: /healthz\r\nContent-Length: 0\r\n\r\n");
    });
  });
  const a = await adminProxy(httpCheckConfig(peer.port));
  const addr = `127.0.0.1:${peer.port}`;
  await waitUntil(() => peer.accepted.length >= 3, 3000, "three checks");
  const t0 = peer.accepted.length;
  await sleep(1000);
  const checks = peer.accepted.length;
  assert.ok(checks - t0 <= 15, `${checks - t0} checks in 1 s at a 100 ms interval`);
  // A check just accepted may not have sent its request yet: at most one in flight, and
  // never a second request (a followed redirect) on any connection.
  const accepted = peer.accepted.length;
  assert.ok(
    requests <= accepted && requests >= accepted - 1,
    `one request per connection: ${requests} requests on ${accepted} connections`,
  );
  assert.equal((await a.server("p", addr)).state, "up");
});
