// The HTTP listener's own HTTP/1.1 (wire/), third round of attacks, in the areas the first two
// rounds (http-wire*.test.ts) leave alone: request bodies across a retry (slow pieces, chunked,
// Expect: 100-continue), pipelined bodies, the per-server connection pool exhausted (in line,
// timed out, its server removed by a reload), all servers down for a large upload, a client
// that half-closes after its request, thousands of idle keep-alive connections (and what each
// costs), max_sessions under a burst, and HEAD/GET alternating on one connection.
// What these attacks found wrong is in http-wire-load-bugs.test.ts.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { deadPort, httpConfig, pool, sayBack, startOrigin } from "../helpers/http-origin.ts";
import { type TestProxy, until } from "../helpers/proxy.ts";
import { active, answer, GET, proxyWith, RawClient, startRawOrigin, within } from "../helpers/raw-http.ts";

const ROUTES = "  - { listener: web, pool: a }";

const failover = (ports: number[], extra = "") => pool("a", ports, extra).replace("round-robin", "failover");

async function lineFor(p: TestProxy, path: string): Promise<Record<string, unknown>> {
  await until(() => p.sessions().some((l) => l.path === path), 5_000, `the log line of ${path}`);
  return p.sessions().find((l) => l.path === path)!;
}

/** Paces the pieces of a request: the proxy sees them in separate reads. */
const pace = (ms: number) => new Promise((r) => setTimeout(r, ms));

function count(hay: Buffer, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle, 0, "latin1"); i >= 0; i = hay.indexOf(needle, i + 1, "latin1")) n++;
  return n;
}

// 1. Request bodies and retries.

test("a POST whose first server refuses the connect reaches the next one whole, its body in slow pieces or chunked", {
  timeout: 60_000,
}, async (t) => {
  const dead = await deadPort();
  const fine = await startOrigin(t, "fine", sayBack);
  const p = await proxyWith(t, ROUTES, failover([dead, fine.port]));
  const c = await RawClient.open(t, p.port("web"));

  const pieces = ["first-", "second-", "third-", "fourth"];
  const body = pieces.join("");
  c.write(`POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (const piece of pieces) {
    await pace(40);
    c.write(piece);
  }
  const r1 = await c.response("POST");
  assert.equal(r1.status, 200);
  assert.equal(r1.body.toString(), `POST /cl [${body}]`);
  const l1 = await lineFor(p, "/cl");
  assert.equal(l1.outcome, "200");
  assert.deepEqual(
    (l1.failed_attempts as { code: string }[]).map((f) => f.code),
    ["E_CONNECT_FAILED"],
  );

  // Chunked, each chunk (and a chunk's size line split from its data) in a read of its own.
  const chunked = ["6\r\n", "chunk-", "\r\n", "5\r\nchunk\r\n", "3\r\n-2-\r\n", "0\r\n", "\r\n"];
  c.write("POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (const piece of chunked) {
    await pace(30);
    c.write(piece);
  }
  const r2 = await c.response("POST");
  assert.equal(r2.status, 200);
  assert.equal(r2.body.toString(), "POST /te [chunk-chunk-2-]");
  // The connection goes on.
  assert.equal((await c.request(GET("/after"))).body.toString(), "GET /after []");
  assert.equal(c.ended, false);
  assert.equal(active(p, fine.port), 0);
});

test("Expect: 100-continue, first server refuses: exactly one 100 Continue, and the body reaches the next server whole", {
  timeout: 60_000,
}, async (t) => {
  const dead1 = await deadPort();
  const dead2 = await deadPort();
  const fine = await startOrigin(t, "fine", sayBack);
  const p = await proxyWith(t, ROUTES, failover([dead1, dead2, fine.port]));
  const c = await RawClient.open(t, p.port("web"));
  const body = "x".repeat(1000);
  c.write(
    `POST /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  const cont = await c.response("POST");
  assert.equal(cont.status, 100);
  c.write(body);
  const { r, interim } = await c.final("POST");
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), `POST /expect [${body}]`);
  assert.equal(interim.length, 0);
  assert.equal(count(c.all, "100 Continue"), 1, "one 100 Continue on the wire");
  assert.equal(fine.seen[0]?.headers.expect, undefined);
  const l = await lineFor(p, "/expect");
  assert.equal((l.failed_attempts as unknown[]).length, 2);
});

test("pipelined POSTs with bodies (Content-Length and chunked, request-shaped) in one write and in 7-byte pieces", {
  timeout: 60_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyWith(t, ROUTES, pool("a", [origin.port]));
  const evil = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
  const chunkedOf = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;
  const reqs: [string, string, string][] = [];
  for (let i = 0; i < 6; i++) {
    const data = `${i}:${evil}`;
    if (i % 2 === 0)
      reqs.push([
        "POST",
        `POST /p${i} HTTP/1.1\r\nHost: a\r\nContent-Length: ${data.length}\r\n\r\n${data}`,
        `POST /p${i} [${data}]`,
      ]);
    else
      reqs.push([
        "POST",
        `POST /p${i} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedOf(data)}`,
        `POST /p${i} [${data}]`,
      ]);
  }
  reqs.push(["GET", GET("/last"), "GET /last []"]);
  const all = reqs.map(([, r]) => r).join("");

  for (const split of [false, true]) {
    const c = await RawClient.open(t, p.port("web"));
    if (!split) c.write(all);
    else
      void (async () => {
        for (let i = 0; i < all.length; i += 7) {
          c.write(all.slice(i, i + 7));
          if (i % 70 === 0) await pace(1);
        }
      })();
    for (const [method, , want] of reqs) {
      const r = await c.response(method);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), want);
    }
    assert.equal(c.buf.length, 0);
    assert.equal(c.ended, false);
  }
  assert.equal(origin.seen.filter((s) => s.url === "/smuggled").length, 0, "no body was read as a request");
  assert.equal(origin.requests, 14);
});

// 2. Pool exhaustion.

test("upstream_connections: 1, 10 clients at once: all 200, the server never sees more than 1 connection", {
  timeout: 60_000,
}, async (t) => {
  let maxOpen = 0;
  const origin = await startRawOrigin(t, (h, c) => {
    maxOpen = Math.max(maxOpen, origin.conns.filter((x) => !x.closed).length);
    setTimeout(() => c.sock.write(answer(200, "OK", `answered ${h.target}`)), 20);
  });
  const p = await proxyWith(t, ROUTES, pool("a", [origin.port]), ", upstream_connections: 1");
  const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(t, p.port("web"))));
  const rs = await Promise.all(clients.map((c, i) => c.request(GET(`/r${i}`), "GET", 10_000)));
  rs.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `answered /r${i}`);
  });
  assert.equal(maxOpen, 1);
  assert.equal(origin.conns.length, 1, "one connection carried all ten");
  assert.equal(origin.seen.length, 10);
  await until(() => active(p, origin.port) === 0, 5_000, "active back to 0");
});

test("a held answer longer than upstream_timeout: it gets 504; the requests in line for its one connection get 502 E_CONNECT_TIMEOUT in bounded time", {
  timeout: 60_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target !== "/hold") c.sock.write(answer(200, "OK", "fine"));
  });
  const p = await proxyWith(
    t,
    ROUTES,
    pool("a", [origin.port]),
    ", upstream_timeout: 500ms, upstream_connections: 1",
  );
  const port = p.port("web");
  const hold = await RawClient.open(t, port);
  hold.write(GET("/hold"));
  await origin.until(() => origin.seen.length === 1, 5_000, "/hold at the server");
  const waiting = await Promise.all(Array.from({ length: 3 }, () => RawClient.open(t, port)));
  const t0 = performance.now();
  const rs = await Promise.all(waiting.map((c, i) => c.request(GET(`/wait${i}`), "GET", 5_000)));
  const ms = performance.now() - t0;
  const rh = await hold.response("GET", 5_000);
  assert.equal(rh.status, 504);
  // Waiting in line for a connection is a connect that timed out: 502, not 504 (the request
  // never left), and no second try (the only server was tried). /hold's own 500 ms bound frees
  // the connection at about the same time, so a waiter may be served instead (a fresh-clone CI
  // run with two hogs had that interleaving): 502 or 200 each, and the 502s are checked.
  for (const r of rs) assert.ok(r.status === 502 || r.status === 200, `a waiter got ${r.status}`);
  const served = rs.filter((r) => r.status === 200).length;
  t.diagnostic(`${3 - served} waiters timed out in line, ${served} served after /hold's timeout`);
  assert.ok(ms < 2_500, `the waiters answered after ${ms.toFixed(0)} ms`);
  for (let i = 0; i < 3; i++) {
    if (rs[i]?.status !== 502) continue;
    const l = await lineFor(p, `/wait${i}`);
    assert.equal(l.outcome, "502");
    assert.equal(l.error_code, "E_CONNECT_TIMEOUT");
    const fa = l.failed_attempts as { code: string; error: string }[];
    assert.equal(fa.length, 1);
    assert.match(fa[0]!.error, /no free connection within 500ms/);
  }
  assert.equal((await lineFor(p, "/hold")).error_code, "E_UPSTREAM_TIMEOUT");
  assert.equal(origin.seen.length, 1 + served, "the waiters that timed out never reached the server");
  await until(() => active(p, origin.port) === 0, 5_000, "active back to 0");
  // (The pool-wait timeouts count as failures of the server and mark it down: see the bugs file.)
});

test("a reload removes the server while requests wait in line for its one connection: they are answered, not hung", {
  timeout: 60_000,
}, async (t) => {
  const old = await startRawOrigin(t, () => {});
  const fresh = await startOrigin(t, "fresh", sayBack);
  const p = await proxyWith(
    t,
    ROUTES,
    pool("a", [old.port]),
    ", upstream_timeout: 3s, upstream_connections: 1",
  );
  const port = p.port("web");
  const hold = await RawClient.open(t, port);
  hold.write(GET("/hold"));
  await old.until(() => old.seen.length === 1, 5_000, "/hold at the old server");
  const waiting = await Promise.all(Array.from({ length: 2 }, () => RawClient.open(t, port)));
  for (const [i, c] of waiting.entries()) c.write(GET(`/wait${i}`));
  await until(() => active(p, old.port) === 3, 5_000, "all three holding a slot");
  p.writeConfig(
    httpConfig(ROUTES, pool("a", [fresh.port]), ", upstream_timeout: 3s, upstream_connections: 1"),
  );
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  // A request after the reload goes to the new server (and retires the old server's pool).
  const n = await RawClient.open(t, p.port("web"));
  assert.equal((await n.request(GET("/new"))).body.toString(), "GET /new []");
  const t0 = performance.now();
  const rs = await Promise.all(waiting.map((c) => c.final("GET", 6_000)));
  const ms = performance.now() - t0;
  for (const { r } of rs) assert.ok(r.status === 200 || r.status === 502, `status ${r.status}`);
  assert.ok(ms < 2_000, `the waiters answered after ${ms.toFixed(0)} ms`);
  for (let i = 0; i < 2; i++)
    t.diagnostic(`/wait${i}: ${rs[i]!.r.status} ${(await lineFor(p, `/wait${i}`)).error}`);
  assert.equal((await hold.response("GET", 6_000)).status, 504);
  await until(() => active(p, old.port) === 0, 5_000, "active back to 0");
});

// 3. All servers down for a large upload.

test("all servers down for a POST with a 1 MiB body: 502 at once, the connection closed, the body never read as requests", {
  timeout: 60_000,
}, async (t) => {
  const p = await proxyWith(t, ROUTES, failover([await deadPort(), await deadPort()]));
  const c = await RawClient.open(t, p.port("web"));
  const evil = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
  const body = evil.repeat(Math.ceil((1 << 20) / evil.length)).slice(0, 1 << 20);
  const t0 = performance.now();
  c.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.write(body);
  const r = await c.response("POST", 5_000);
  const ms = performance.now() - t0;
  assert.equal(r.status, 502);
  assert.equal(r.get("connection"), "close");
  assert.ok(ms < 2_000, `502 after ${ms.toFixed(0)} ms`);
  await c.endedWithin(5_000);
  assert.equal(count(c.all, "HTTP/1.1 "), 1, "one answer only");
  await pace(100); // a wrong reading of the body would answer /smuggled at once
  assert.equal(p.sessions().length, 1);
  assert.equal((await lineFor(p, "/up")).error_code, "E_CONNECT_FAILED");
});

// 4. A client that half-closes after its request (the answer it still gets is in the bugs file
// if it gets none): here, the same request without the FIN, as the control.

test("control for the half-close test: the same GET answered late on an open connection", {
  timeout: 60_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) => {
    setTimeout(() => c.sock.write(answer(200, "OK", "late")), 200);
  });
  const p = await proxyWith(t, ROUTES, pool("a", [origin.port]));
  const c = await RawClient.open(t, p.port("web"), true);
  const r = await c.request(GET("/late"));
  assert.equal(r.body.toString(), "late");
});

// 5. Many idle keep-alive connections.

/** A child process (so its sockets do not weigh on our RSS) with `n` connections, one GET each, then idle. */
const CLIENTS = `
const net = require("node:net");
const [port, n] = process.argv.slice(1).map(Number);
let answered = 0, ended = 0, errors = 0;
const say = (s) => process.stdout.write(s + "\\n");
for (let i = 0; i < n; i++) {
  const s = net.connect({ port, host: "127.0.0.1" });
  let buf = "";
  let done = false;
  s.on("error", () => { errors++; });
  s.on("connect", () => s.write("GET /idle" + i + " HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"));
  s.on("data", (d) => {
    buf += d.toString("latin1");
    if (!done && buf.startsWith("HTTP/1.1 200") && buf.endsWith("[]")) {
      done = true;
      if (++answered === n) say("answered " + answered);
    }
  });
  s.on("close", () => { if (++ended === n) say("ended " + ended + " answered " + answered + " errors " + errors); });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

function rss(): { rss: number; heap: number } {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

test("2000 keep-alive connections, one request each then idle: all answered, all closed after idle_timeout; memory per idle connection", {
  timeout: 60_000,
}, async (t) => {
  const origin = await startOrigin(t, "a", sayBack);
  const p = await proxyWith(t, ROUTES, pool("a", [origin.port]), ", idle_timeout: 2s");
  const n = 2000;
  // Warm up (code paths, the upstream pool) before the baseline.
  const w = await RawClient.open(t, p.port("web"));
  await w.request(GET("/warm"));
  w.sock.destroy();
  const before = rss();
  const child = spawn(process.execPath, ["-e", CLIENTS, String(p.port("web")), String(n)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  t.after(() => child.kill());
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const t0 = performance.now();
  await until(() => out.includes(`answered ${n}`), 20_000, `${n} answers`);
  const answeredMs = performance.now() - t0;
  const sessions = p.proxy.runtime.listener("web")!.sessions;
  const idle = rss();
  const perConnRss = (idle.rss - before.rss) / n;
  const perConnHeap = (idle.heap - before.heap) / n;
  t.diagnostic(
    `${n} answered in ${answeredMs.toFixed(0)} ms; idle: RSS +${((idle.rss - before.rss) / 1048576).toFixed(1)} MiB ` +
      `(${(perConnRss / 1024).toFixed(1)} KiB/conn), heap +${((idle.heap - before.heap) / 1048576).toFixed(1)} MiB ` +
      `(${(perConnHeap / 1024).toFixed(2)} KiB/conn)`,
  );
  assert.equal(sessions, 0, "no request in flight while idle");
  const t1 = performance.now();
  await until(() => out.includes(`ended ${n}`), 10_000, `the proxy closing ${n} idle connections`);
  const closedMs = performance.now() - t1;
  t.diagnostic(`all ${n} idle connections closed ${closedMs.toFixed(0)} ms after the last answer`);
  assert.match(out, new RegExp(`ended ${n} answered ${n} errors 0`));
  assert.ok(closedMs < 5_000);
  assert.equal(p.sessions().filter((l) => l.outcome === "200").length, n + 1);
  assert.ok(perConnHeap < 16 * 1024, `heap per idle connection ${perConnHeap.toFixed(0)} B`);
  child.stdin.end();
  await within(once(child, "exit"), 5_000, "the client process exit");
});

// 6. max_sessions.

test("max_sessions: 2 and 20 slow requests at once: the server never has more than 2; the others get 503 at once", {
  timeout: 60_000,
}, async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const origin = await startRawOrigin(t, (h, c) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      c.sock.write(answer(200, "OK", `slow ${h.target}`));
    }, 300);
  });
  const pools = `  a:
    balance: round-robin
    servers:
      - { address: 127.0.0.1:${origin.port}, max_sessions: 2 }
`;
  const p = await proxyWith(t, ROUTES, pools);
  const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(t, p.port("web"))));
  const t0 = performance.now();
  const rs = await Promise.all(clients.map((c, i) => c.request(GET(`/s${i}`), "GET", 5_000)));
  const ms = performance.now() - t0;
  const ok = rs.filter((r) => r.status === 200).length;
  const refused = rs.filter((r) => r.status === 503);
  t.diagnostic(
    `200: ${ok}, 503: ${refused.length}, others: ${20 - ok - refused.length}, in ${ms.toFixed(0)} ms`,
  );
  assert.ok(maxInFlight <= 2, `at most 2 in flight at the server, saw ${maxInFlight}`);
  assert.equal(ok, 2);
  assert.equal(refused.length, 18);
  for (const r of refused) assert.equal(r.get("retry-after"), "5");
  const l = p.sessions().find((x) => x.outcome === "503");
  assert.equal(l?.error_code, "E_NO_SERVER");
  assert.equal(origin.seen.length, 2);
  await until(() => active(p, origin.port) === 0, 5_000, "active back to 0");
});

// 7. HEAD and GET alternating.

test("HEAD and GET alternating 100 times on one connection (and 40 pipelined): no desync, every body matches", {
  timeout: 60_000,
}, async (t) => {
  const bodyOf = (target: string) => `body of ${target} ${"#".repeat(target.length * 3)}`;
  const origin = await startRawOrigin(t, (h, c) => {
    const b = bodyOf(h.target);
    if (h.method === "HEAD") c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n`);
    else c.sock.write(answer(200, "OK", b));
  });
  const p = await proxyWith(t, ROUTES, pool("a", [origin.port]));
  const c = await RawClient.open(t, p.port("web"));
  for (let i = 0; i < 100; i++) {
    const method = i % 2 === 0 ? "HEAD" : "GET";
    const target = `/x${i}`;
    const r = await c.request(`${method} ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, method);
    assert.equal(r.status, 200, `${method} ${i}`);
    assert.equal(r.get("content-length"), String(bodyOf(target).length));
    assert.equal(r.body.toString(), method === "HEAD" ? "" : bodyOf(target));
  }
  let all = "";
  for (let i = 0; i < 40; i++) all += `${i % 2 === 0 ? "HEAD" : "GET"} /y${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  c.write(all);
  for (let i = 0; i < 40; i++) {
    const method = i % 2 === 0 ? "HEAD" : "GET";
    const r = await c.response(method);
    assert.equal(r.body.toString(), method === "HEAD" ? "" : bodyOf(`/y${i}`), `pipelined ${i}`);
  }
  assert.equal(c.buf.length, 0, "no stray bytes");
  assert.equal(origin.seen.length, 140);
  assert.equal(p.sessions().filter((l) => l.outcome === "200").length, 140);
  assert.equal(origin.conns.length, 1, "one upstream connection carried them all");
});
