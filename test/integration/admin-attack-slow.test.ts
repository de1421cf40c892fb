// Slow and idle clients against the admin API over real sockets: a slowloris body, and a
// flood of connections that send nothing. Both must cost the API a bounded time, never a
// socket for good, and the operator must get through once the bound has passed.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { adminTarget, json, SERVER_A } from "../helpers/admin-attack.ts";
import { within } from "../helpers/raw-http.ts";

// Passes; not covered elsewhere (admin-api.test.ts covers slow headers only): a body dripped a
// byte at a time is cut at the request timeout (10 s), and the change is never applied.
test("a slowloris body is cut at the request timeout and the change is not applied", async (t) => {
  const a = await adminTarget(t);
  const c = await a.open();
  c.write(
    `POST /api/v1/pools/main/servers/${SERVER_A}/drain HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n` +
      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
  );
  const t0 = Date.now();
  let sent = 0;
  const drip = setInterval(() => {
    if (!c.ended && sent < 100) {
      c.write(" ");
      sent++;
    }
  }, 300);
  t.after(() => clearInterval(drip));
  await c.endedWithin(16_000);
  clearInterval(drip);
  const took = Date.now() - t0;
  assert.ok(took >= 8_000, `not cut before the documented 10 s (${took} ms)`);
  assert.ok(took < 16_000, `cut within 16 s (${took} ms)`);
  assert.ok(
    c.all.length === 0 || /^HTTP\/1\.1 408 /.test(c.all.toString("latin1")),
    c.all.toString("latin1"),
  );
  assert.equal(a.server().admin, "ready");
});

// Passes; not covered elsewhere: 300 connections that never send a byte (over the 256 cap)
// lock the operator out for at most the headers timeout, then are closed by the server.
test("300 idle connections are closed by the server and the operator gets through within 12 s", async (t) => {
  const a = await adminTarget(t);
  const socks: Socket[] = [];
  t.after(() => {
    for (const s of socks) s.destroy();
  });
  let closed = 0;
  for (let i = 0; i < 300; i++) {
    const s = connect({ host: "127.0.0.1", port: a.port });
    s.on("error", () => {});
    s.on("close", () => closed++);
    s.resume();
    socks.push(s);
  }
  await within(Promise.all(socks.map((s) => once(s, "connect"))), 10_000, "300 connects");
  const t0 = Date.now();
  let served = false;
  for (let i = 0; i < 60 && !served && Date.now() - t0 < 12_000; i++) {
    const r = await fetch(`http://127.0.0.1:${a.port}/api/v1/status`, {
      signal: AbortSignal.timeout(2_000),
    }).catch(() => undefined);
    if (r?.status === 200) {
      served = json({ body: Buffer.from(await r.text()) } as never).pid === process.pid;
      break;
    }
    await r?.body?.cancel();
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.ok(served, `the operator got an answer within 12 s (${Date.now() - t0} ms)`);
  const end = Date.now() + 12_000;
  while (closed < 300 && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
  assert.equal(closed, 300, "every idle connection was closed by the server");
});
