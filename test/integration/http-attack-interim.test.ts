// Attacks on the wait for a response head: a server that answers with interim (1xx) answers
// forever, or trickles its head a byte at a time. The number of 1xx relayed is bounded, and
// upstream_timeout bounds the wait for the final head as a whole, not each read.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { until } from "../helpers/proxy.ts";
import {
  GET,
  proxyTo,
  pushed,
  RawClient,
  silentClient,
  startRawOrigin,
  startTunnelOrigin,
  UPGRADE,
  within,
} from "../helpers/raw-http.ts";

const EARLY_HINTS = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n";

/** Writes `bytes` on `sock` as fast as it takes them (its own backpressure), until it closes. */
function flood(sock: Socket, bytes: string): void {
  const b = Buffer.from(bytes.repeat(64), "latin1");
  const pump = () => {
    while (!sock.destroyed && sock.write(b));
  };
  sock.on("drain", pump);
  pump();
}

/** Writes one byte of `text` (looped) every `ms`, until the socket closes. */
function trickle(sock: Socket, text: string, ms: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (sock.destroyed) clearInterval(timer);
    else sock.write(text[i++ % text.length] as string, "latin1");
  }, ms);
  sock.on("close", () => clearInterval(timer));
}

// DEFECT: interim answers were relayed without bound and without backpressure (writeInterim
// ignored write()'s return; client_timeout never fired since bytesWritten counts queued
// bytes): ~90 MB/s queued for a client that reads nothing. Now at most MAX_INTERIM (32) are
// relayed, then the try fails as a bad answer: 502.
test("a server sending endless 103s to a client that reads nothing: the server is cut after a few, the client gets 502", {
  timeout: 30_000,
}, async (t) => {
  let server: Socket | undefined;
  const origin = await startRawOrigin(t, (_h, c) => {
    server = c.sock;
    flood(c.sock, EARLY_HINTS);
  });
  const p = await proxyTo(t, origin.port);
  const client = await silentClient(t, p.port("web"), GET("/hints"));
  await until(() => server !== undefined, 5_000, "the origin reading the request");
  const s = server as Socket;
  let cut = true;
  try {
    await origin.until(
      () => origin.conns[0]?.closed === true,
      5_000,
      "the proxy closing the flooding server",
    );
  } catch {
    cut = false;
  }
  const mb = pushed(s) / 1024 / 1024;
  t.diagnostic(`a client reading nothing: the flooding origin pushed ${mb.toFixed(1)} MB, cut: ${cut}`);
  assert.ok(cut, `the flooding origin was never cut (${mb.toFixed(1)} MB pushed)`);
  // The client reads now: a bounded number of 103s, then the proxy's 502.
  const c = new RawClient(client);
  client.resume();
  const { r, interim } = await c.final("GET", 5_000);
  t.diagnostic(`${interim.length} interim answers relayed, then ${r.status}`);
  assert.equal(r.status, 502);
  assert.ok(interim.length <= 32, `${interim.length} interim answers relayed`);
});

// DEFECT: upstream_timeout was reset by every read, so a head trickled a byte at a time (or
// a 100 Continue every 100 ms) never timed out. Now the wait for the final head is bounded
// as a whole: 504 within upstream_timeout (plus the sweep's quarter).
for (const [what, text] of [
  ["a head trickled a byte every 50 ms", "HTTP/1.1 200 OK\r\nX-Slow: 1\r\n"],
  ["a 100 Continue every 100 ms", "HTTP/1.1 100 Continue\r\n\r\n"],
] as const) {
  test(`${what}: 504 within upstream_timeout`, { timeout: 30_000 }, async (t) => {
    const origin = await startRawOrigin(t, (_h, c) => {
      if (text.includes("100 Continue")) {
        const timer = setInterval(() => c.sock.write(text), 100);
        c.sock.on("close", () => clearInterval(timer));
      } else trickle(c.sock, text, 50);
    });
    const p = await proxyTo(t, origin.port, ", upstream_timeout: 500ms");
    const c = await RawClient.open(t, p.port("web"));
    const t0 = performance.now();
    c.write(GET("/slow"));
    let status = "nothing";
    try {
      status = String((await within(c.final("GET", 6_000), 6_000, "a final answer")).r.status);
    } catch (err) {
      status = `nothing (${(err as Error).message})`;
    }
    const ms = performance.now() - t0;
    t.diagnostic(`${what}: ${status} after ${ms.toFixed(0)} ms (upstream_timeout 500ms)`);
    assert.equal(status, "504");
    assert.ok(ms < 2_000, `${ms.toFixed(0)} ms`);
  });
}

// DEFECT: an upgrade's wait for the 101 ended at the first byte relayed, a 103 included: a
// server sending 103s forever held the client for good. Now 1xx answers neither end the wait
// nor come without bound.
test("an upgrade answered with a 103 every 100 ms: 504 within upstream_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startTunnelOrigin(t, (_h, c) => {
    const timer = setInterval(() => c.sock.write(EARLY_HINTS), 100);
    c.sock.on("close", () => clearInterval(timer));
  });
  const p = await proxyTo(t, origin.port, ", upstream_timeout: 500ms");
  const c = await RawClient.open(t, p.port("web"));
  const t0 = performance.now();
  c.write(UPGRADE("/ws"));
  let status = "nothing";
  try {
    status = String((await within(c.final("GET", 6_000), 6_000, "a final answer")).r.status);
  } catch (err) {
    status = `nothing (${(err as Error).message})`;
  }
  const ms = performance.now() - t0;
  t.diagnostic(`upgrade with 103s: ${status} after ${ms.toFixed(0)} ms`);
  assert.equal(status, "504");
});

test("an upgrade answered with endless 103s at once: at most 32 relayed, then 502", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startTunnelOrigin(t, (_h, c) => flood(c.sock, EARLY_HINTS));
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(UPGRADE("/ws"));
  const { r, interim } = await within(c.final("GET", 5_000), 5_000, "a final answer");
  t.diagnostic(`upgrade flooded with 103s: ${interim.length} relayed, then ${r.status}`);
  assert.deepEqual([r.status, interim.length <= 32], [502, true]);
});
