// WebSocket through the proxy (issue #14; Asterisk's ARI speaks it): the Upgrade handshake
// reaches the server with the forwarding headers, then bytes flow both ways; the tunnel holds
// its server's slot until it closes. The origin is written by hand: the RFC 6455 §4.2.2
// handshake, then an echo of raw bytes (no framing needed to prove the relay).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function readUntil(sock: Socket, pred: (s: string) => boolean, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    const timer = setTimeout(
      () => reject(new Error(`not seen within ${timeoutMs}ms: ${JSON.stringify(s)}`)),
      timeoutMs,
    );
    const on = (c: Buffer) => {
      s += c.toString("latin1");
      if (!pred(s)) return;
      clearTimeout(timer);
      sock.off("data", on);
      resolve(s);
    };
    sock.on("data", on);
  });
}

test("a WebSocket upgrade is relayed and echoes both ways; its slot is held until close", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "ws");
  let upgradeHeaders: Record<string, string | string[] | undefined> = {};
  origin.server.on("upgrade", (req, sock: Socket) => {
    upgradeHeaders = req.headers;
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}${GUID}`).digest("base64");
    sock.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    sock.on("data", (c: Buffer) => sock.write(c));
    sock.on("end", () => sock.end());
  });
  const p = await startProxy(httpConfig("  - { listener: web, pool: ws }", pool("ws", [origin.port])));
  t.after(() => p.close());
  const sock = connect(p.port("web"), "127.0.0.1");
  t.after(() => sock.destroy());
  await once(sock, "connect");
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  sock.write(
    `GET /ari/events HTTP/1.1\r\nHost: pbx.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await readUntil(sock, (s) => s.includes("\r\n\r\n"));
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/, "RFC 6455's own example");
  assert.equal(upgradeHeaders.upgrade, "websocket");
  assert.equal(upgradeHeaders["x-forwarded-for"], "127.0.0.1");
  assert.equal(upgradeHeaders.via, "1.1 trunkline");
  const server = p.proxy.runtime.registry.get(`127.0.0.1:${origin.port}`);
  assert.equal(server?.active, 1, "the tunnel counts on its server");
  // Bytes both ways, larger than one socket read.
  const payload = Buffer.alloc(256 * 1024, 7);
  const back = readUntil(sock, (s) => s.length >= payload.length);
  sock.write(payload);
  assert.equal((await back).length, payload.length);
  sock.end();
  await until(() => server?.active === 0, 5_000, "slot released");
  const line = await p.session(0);
  assert.equal(line.outcome, "101");
  assert.ok((line.bytes_in as number) >= payload.length);
});

test("an upgraded connection silent both ways is closed after upgrade_idle_timeout", {
  timeout: 30_000,
}, async (t) => {
  const origin = await startOrigin(t, "ws");
  origin.server.on("upgrade", (_req, sock: Socket) => {
    sock.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  });
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: ws }", pool("ws", [origin.port]), ", upgrade_idle_timeout: 300ms"),
  );
  t.after(() => p.close());
  const sock = connect(p.port("web"), "127.0.0.1");
  t.after(() => sock.destroy());
  sock.on("error", () => {});
  sock.write("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  await readUntil(sock, (s) => s.includes("\r\n\r\n"));
  const t0 = performance.now();
  await once(sock, "close");
  const ms = performance.now() - t0;
  assert.ok(ms >= 250 && ms < 5_000, `closed after ${ms.toFixed(0)} ms`);
  const line = await p.session(0);
  assert.equal(line.error_code, "E_STALL_TIMEOUT");
});
