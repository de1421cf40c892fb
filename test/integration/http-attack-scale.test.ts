// Attacks by numbers: thousands of clients that open a request and stall (file descriptors
// must come back, bounded by header_timeout), hundreds of clients at once against a server
// with few connections (bounded, queued, answered), and a route table of 10,000 routes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { get, httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { GET, proxyWith, RawClient, within } from "../helpers/raw-http.ts";

/** Open file descriptors of this process (the proxy runs in it; the clients do not). */
const fds = () => readdirSync("/proc/self/fd").length;

/** A child with `n` connections, each sending half a request head, then nothing. */
const STALLERS = `
const net = require("node:net");
const [port, n] = process.argv.slice(1).map(Number);
let open = 0, ended = 0, errors = 0, answered408 = 0;
const say = (s) => process.stdout.write(s + "\\n");
for (let i = 0; i < n; i++) {
  const s = net.connect({ port, host: "127.0.0.1" });
  let buf = "";
  s.on("error", () => { errors++; });
  s.on("connect", () => {
    s.write("GET /stall" + i + " HTTP/1.1\\r\\nHost: a\\r\\nX-Slow: ");
    if (++open === n) say("open " + open);
  });
  s.on("data", (d) => { buf += d.toString("latin1"); });
  s.on("close", () => {
    if (buf.startsWith("HTTP/1.1 408")) answered408++;
    if (++ended === n) say("ended " + ended + " 408s " + answered408 + " errors " + errors);
  });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

// Holds up: 2,000 clients stalling mid-head cost file descriptors only until header_timeout.
test("2000 clients that stall mid-head: each closed with 408 after header_timeout, the proxy's descriptors come back", {
  timeout: 60_000,
}, async (t) => {
  const p = await proxyWith(t, "  - { listener: web, status: stopped }", "  {}\n", ", header_timeout: 2s");
  const n = 2000;
  const base = fds();
  const child = spawn(process.execPath, ["-e", STALLERS, String(p.port("web")), String(n)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  t.after(() => child.kill());
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, fds());
  }, 20);
  t.after(() => clearInterval(sampler));
  await until(() => out.includes(`open ${n}`), 20_000, `${n} connections open`);
  const t0 = performance.now();
  await until(() => out.includes(`ended ${n}`), 10_000, `the proxy closing ${n} stalled connections`);
  const closedMs = performance.now() - t0;
  clearInterval(sampler);
  await until(() => fds() <= base + 5, 5_000, `descriptors back near ${base} (now ${fds()})`);
  t.diagnostic(
    `peak ${peak - base} descriptors over the base ${base}; all closed ${closedMs.toFixed(0)} ms after the last opened`,
  );
  assert.ok(peak - base > n / 2, `the stalled connections held descriptors (${peak - base})`);
  assert.match(out, new RegExp(`ended ${n} 408s ${n} errors 0`));
  child.stdin.end();
  await within(once(child, "exit"), 5_000, "the client process exit");
});

// Holds up: 500 clients at once against a server limited to 4 connections: every request is
// answered, in line, and the server never sees a fifth connection.
test("500 concurrent clients, upstream_connections: 4: all answered, never more than 4 server connections", {
  timeout: 60_000,
}, async (t) => {
  let open = 0;
  let most = 0;
  const origin = await startOrigin(t, "slow", (req, res) => {
    req.resume();
    req.on("end", () => setTimeout(() => res.end("ok"), 10));
  });
  origin.server.on("connection", (s) => {
    most = Math.max(most, ++open);
    s.on("close", () => open--);
  });
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: a }", pool("a", [origin.port]), ", upstream_connections: 4"),
  );
  t.after(() => p.close());
  const t0 = performance.now();
  const rs = await Promise.all(
    Array.from({ length: 500 }, (_, i) => get(p.port("web"), `/c${i}`, { host: "a", timeoutMs: 25_000 })),
  );
  const ms = performance.now() - t0;
  const codes = new Map<number, number>();
  for (const r of rs) codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
  t.diagnostic(`500 answered in ${ms.toFixed(0)} ms; at most ${most} server connections`);
  assert.deepEqual([...codes], [[200, 500]]);
  assert.ok(most <= 4, `${most} server connections at once`);
  assert.equal(origin.requests, 500);
});

// Holds up: 10,000 routes load, and route exactly (the last exact host, a wildcard, a miss).
test("10,000 routes: the proxy starts, and the last route, a wildcard and a miss are routed right", {
  timeout: 120_000,
}, async (t) => {
  const a = await startOrigin(t, "a");
  const b = await startOrigin(t, "b");
  const routes: string[] = [];
  for (let i = 0; i < 9_999; i++)
    routes.push(`  - { listener: web, match: { host: h${i}.example, path_prefix: /p${i % 7} }, pool: a }`);
  routes.push('  - { listener: web, match: { host: "*.wild.example" }, pool: b }');
  const t0 = performance.now();
  const p = await startProxy(httpConfig(routes.join("\n"), pool("a", [a.port]) + pool("b", [b.port])));
  t.after(() => p.close());
  const startMs = performance.now() - t0;
  const c = await RawClient.open(t, p.port("web"));
  const t1 = performance.now();
  const last = await c.request(GET("/p2/x").replace("Host: a", "Host: h9998.example"));
  const wild = await c.request(GET("/").replace("Host: a", "Host: x.wild.example"));
  const wrongPrefix = await c.request(GET("/p5").replace("Host: a", "Host: h9998.example"));
  const miss = await c.request(GET("/p5").replace("Host: a", "Host: h10000.example"));
  const reqMs = performance.now() - t1;
  t.diagnostic(
    `config of 10,000 routes started in ${startMs.toFixed(0)} ms; 4 requests in ${reqMs.toFixed(0)} ms`,
  );
  assert.equal(last.get("x-origin"), "a");
  assert.equal(wild.get("x-origin"), "b");
  assert.equal(wrongPrefix.status, 404, "h9998's prefix is /p2 (9998 % 7)");
  assert.equal(miss.status, 404);
  assert.ok(startMs < 60_000, `start took ${startMs.toFixed(0)} ms`);
});
