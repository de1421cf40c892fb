import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { SyslogSink } from "../../src/observe/syslog.ts";
import { refusedPort } from "../helpers/blackhole.ts";

/** How long the event loop was blocked at most while `fn` ran. */
async function maxLag(fn: () => Promise<void>): Promise<number> {
  let max = 0;
  let last = Date.now();
  const t = setInterval(() => {
    const now = Date.now();
    max = Math.max(max, now - last - 5);
    last = now;
  }, 5);
  await fn();
  clearInterval(t);
  return max;
}

test("TCP syslog refusing connections: writes never block, the queue stays bounded, close is quick", async () => {
  const port = await refusedPort();
  const sink = new SyslogSink({
    target: { transport: "tcp", host: "127.0.0.1", port },
    facility: 16,
    appName: "t",
    maxQueue: 100,
  });
  const lag = await maxLag(async () => {
    for (let i = 0; i < 5000; i++) sink.write(6, `message ${i}`);
    await new Promise((r) => setTimeout(r, 300));
  });
  assert.ok(lag < 100, `event loop blocked ${lag}ms`);
  const st = sink.stats();
  assert.ok(st.queued <= 100);
  assert.ok(st.dropped >= 4900);
  const t = Date.now();
  await sink.close();
  assert.ok(Date.now() - t < 1500);
});

test("TCP syslog that accepts but never reads: backpressure respected, memory bounded", async () => {
  const held: Socket[] = [];
  const srv = createServer((s) => {
    s.pause();
    held.push(s);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  const sink = new SyslogSink({
    target: { transport: "tcp", host: "127.0.0.1", port },
    facility: 16,
    appName: "t",
    maxQueue: 1000,
  });
  const big = "x".repeat(2000);
  const lag = await maxLag(async () => {
    for (let i = 0; i < 20_000; i++) {
      sink.write(6, big);
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
  });
  assert.ok(lag < 150, `event loop blocked ${lag}ms`);
  const st = sink.stats();
  assert.ok(st.queued <= 1000, `queued ${st.queued}`);
  assert.ok(st.dropped > 0, "a server that never reads makes us drop, not grow");
  const t = Date.now();
  await sink.close(500);
  assert.ok(Date.now() - t < 1200);
  for (const s of held) s.destroy();
  srv.close();
});

test("UDP syslog with nothing listening and an unresolvable host: no throw, no crash", async () => {
  const port = await refusedPort();
  const a = new SyslogSink({
    target: { transport: "udp", host: "127.0.0.1", port },
    facility: 16,
    appName: "t",
  });
  const b = new SyslogSink({
    target: { transport: "udp", host: "no-such-host.invalid", port: 514 },
    facility: 16,
    appName: "t",
  });
  const c = new SyslogSink({
    target: { transport: "tcp", host: "no-such-host.invalid", port: 514 },
    facility: 16,
    appName: "t",
  });
  for (let i = 0; i < 200; i++) {
    a.write(3, "x");
    b.write(3, "x");
    c.write(3, "x");
  }
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all([a.close(), b.close(), c.close()]);
  assert.ok(b.stats().errors > 0);
});
