// Attacks on an upgrade's first bytes: a WebSocket client may send frames right after its
// Upgrade request, before the 101 arrives (RFC 6455 §4.1 lets it wait, many do not). They
// must reach the server, in order, once the 101 opens the tunnel.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBlackhole } from "../helpers/blackhole.ts";
import { httpConfig } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { RawClient, SWITCHING, startTunnelOrigin, UPGRADE } from "../helpers/raw-http.ts";

// DEFECT: ServerConn's #detach took its 'data' listener off and left the socket flowing:
// what the client sent while the proxy was still connecting to the server was emitted to
// nobody and lost. The first server here swallows the connect (connect_timeout 1s), so the
// client's early bytes surely come while the proxy connects.
test("bytes sent after the Upgrade head, while the proxy connects: relayed to the server after its 101", {
  timeout: 30_000,
}, async (t) => {
  const bh = await startBlackhole();
  t.after(() => bh.close());
  const origin = await startTunnelOrigin(t, (_h, c) => c.sock.write(SWITCHING));
  const p = await startProxy(
    httpConfig(
      "  - { listener: web, pool: a }",
      `  a:
    balance: failover
    connect_timeout: 1s
    servers: [ { address: 127.0.0.1:${bh.port} }, { address: 127.0.0.1:${origin.port} } ]
`,
    ),
  );
  t.after(() => p.close());
  const c = await RawClient.open(t, p.port("web"));
  c.write(UPGRADE("/ws"));
  // The proxy has read the head (the upgrade is in flight) and is connecting.
  await until(() => p.proxy.runtime.listener("web")?.sessions === 1, 5_000, "the upgrade in flight");
  assert.equal(origin.conns.length, 0, "the origin is not connected yet");
  c.write("EARLY");
  const r = await c.response("GET", 10_000);
  assert.equal(r.status, 101);
  c.write("AFTER");
  const conn = () => origin.conns[0];
  const seen = () => conn()?.bytes.toString("latin1", Math.max(0, conn()?.headEnd ?? 0)) ?? "";
  try {
    await until(() => seen().includes("AFTER"), 5_000, "the bytes after the 101 at the origin");
  } finally {
    t.diagnostic(`the origin read after the head: ${JSON.stringify(seen())}`);
  }
  assert.equal(seen(), "EARLYAFTER");
});
