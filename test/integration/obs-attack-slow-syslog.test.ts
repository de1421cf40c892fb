// A syslog collector that stops reading (or resets every connection) while callers make
// large records: sessions go on at their normal pace, the queue stays within 1,000 records
// and 1 MiB, drops are counted in /metrics, and every record is still on stdout. The
// syslog-down tests drive the sink alone; this drives it through a running proxy.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { refusedPort } from "../helpers/blackhole.ts";
import { agiHeader, agiRaw, startLoggedProxy, tcpReceiver, waitFor } from "../helpers/obs-attack.ts";
import { parsePromText, value } from "../helpers/prom-text.ts";

async function config(port: number): Promise<string> {
  const dead = await refusedPort();
  return `
log: { level: info, syslog: "tcp://127.0.0.1:${port}" }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { connect_timeout: 300ms, total_timeout: 600ms, servers: [ { address: 127.0.0.1:${dead} } ] } }
`;
}

async function run(n: number, width: number, port: number, size: number): Promise<number> {
  let slowest = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = Date.now();
        const got = await agiRaw(
          port,
          agiHeader({ agi_request: `agi://h/${i}?d=${"z".repeat(size)}`, agi_channel: "x" }),
        );
        assert.match(got, /FAILURE/);
        slowest = Math.max(slowest, Date.now() - t0);
      }
    }),
  );
  return slowest;
}

test("TCP syslog collector that never reads: 3,000 sessions with 8 KiB records go on at pace, queue bounded, drops counted, stdout complete", async (t) => {
  const rx = await tcpReceiver({ read: false });
  t.after(() => rx.close());
  const p = await startLoggedProxy(await config(rx.port));
  t.after(() => p.close());
  const n = 3_000; // ~24 MB of syslog frames: far past the kernel's socket buffers
  const started = Date.now();
  const slowest = await run(n, 16, p.port(), 9_000);
  const took = Date.now() - started;
  assert.ok(slowest < 2_000, `the slowest session took ${slowest} ms`);
  assert.ok(took < 45_000, `${n} sessions took ${took} ms`);
  const s = p.syslogStats();
  assert.ok(s, "syslog is on");
  assert.ok(
    s.queued <= 1_000 && s.queuedBytes <= 1024 * 1024,
    `queue ${s.queued} records, ${s.queuedBytes} bytes`,
  );
  assert.ok(s.dropped > 0, "records past the queue were dropped");
  const m = p.proxy.metrics;
  assert.ok(m);
  const e = parsePromText(await m.text());
  const counted = value(e, "trunkline_log_dropped_lines_total", { output: "syslog" }) ?? 0;
  assert.ok(counted > 0, `the drops are in /metrics: ${counted}`);
  await waitFor(
    () =>
      p
        .out()
        .split("\n")
        .filter((l) => l.includes('"event":"session"')).length >= n,
    5000,
    "every session line on stdout",
  );
  assert.equal(rx.connections(), 1, "one connection, no reconnect storm against a slow collector");
});

test("TCP syslog collector that resets every connection: sessions unaffected, reconnects back off (no storm)", async (t) => {
  let conns = 0;
  const srv = createServer((s) => {
    conns++;
    s.on("error", () => {});
    s.resetAndDestroy();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        srv.close(() => r());
      }),
  );
  const addr = srv.address();
  assert.ok(addr !== null && typeof addr === "object");
  const p = await startLoggedProxy(await config(addr.port));
  t.after(() => p.close());
  const started = Date.now();
  const slowest = await run(1_000, 16, p.port(), 10);
  const took = Date.now() - started;
  assert.ok(slowest < 2_000, `the slowest session took ${slowest} ms`);
  // Backoff from 100 ms doubling to 5 s: a handful of connects in a few seconds, never one per record.
  assert.ok(conns <= 5 + took / 100, `${conns} connections in ${took} ms`);
  const s = p.syslogStats();
  assert.ok(s && s.queued <= 1_000, "queue bounded");
});
