// Keep-alive toward upstreams (issue #14: one connection pool per server, bounded): many requests
// reuse few connections, and a server's pool closes once the server leaves every http pool.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HttpListener } from "../../src/protocols/http/listener.ts";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";

test("200 requests, 10 at a time, reach the origin over at most upstream_connections connections", {
  timeout: 60_000,
}, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port]), ", upstream_connections: 4"),
  );
  t.after(() => p.close());
  const port = p.port("web");
  for (let round = 0; round < 20; round++) {
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => get(port, `/r${round}-${i}`, { host: "a" })),
    );
    for (const r of rs) assert.equal(r.status, 200);
  }
  t.diagnostic(`200 requests (200 client connections) -> ${origin.connections} upstream connections`);
  assert.equal(origin.requests, 200);
  assert.ok(origin.connections <= 4, `${origin.connections} upstream connections`);
});

test("a server removed from every http pool has its connections closed", { timeout: 30_000 }, async (t) => {
  const a = await startOrigin(t, "a");
  const b = await startOrigin(t, "b");
  const cfg = (ports: number[]) => httpConfig("  - { listener: web, pool: p }", pool("p", ports));
  const p = await startProxy(cfg([a.port, b.port]));
  t.after(() => p.close());
  for (let i = 0; i < 4; i++) assert.equal((await get(p.port("web"), "/", { host: "x" })).status, 200);
  assert.ok(b.sockets.size > 0, "b holds a kept-alive connection");
  const l = p.proxy.runtime.listener("web") as HttpListener;
  assert.equal(l.upstreams.size, 2);
  p.writeConfig(cfg([a.port]));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  // The next request sees the new generation and lets b's pool go.
  assert.equal((await get(p.port("web"), "/", { host: "x" })).status, 200);
  assert.equal(l.upstreams.size, 1);
  await until(() => b.sockets.size === 0, 5_000, "b's connections closed");
});
