// Attacks by a server that sends more than a client reads: a refused upgrade whose body
// streams forever, and a flood of interim (1xx) answers. What the proxy holds for a client
// that reads nothing must stay bounded: the server is made to wait, not buffered whole.
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
  startTunnelOrigin,
  UPGRADE,
} from "../helpers/raw-http.ts";
import { settles } from "../helpers/settles.ts";

const MB = 1024 * 1024;

// DEFECT: a refused upgrade (the server answers 200 and streams its body, no 101) is relayed
// with client.write() whose return value was ignored (upgrade.ts): a client that reads
// nothing made the proxy queue the whole stream (1.5 GB in 8 s). Now the server is paused
// until the client drains.
test("an upgrade refused with an endless 200 body, to a client that reads nothing: the server is held back, memory stays flat", {
  timeout: 60_000,
}, async (t) => {
  const total = 128 * MB;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
  let server: Socket | undefined;
  let sent = 0;
  const origin = await startTunnelOrigin(t, (_head, c) => {
    server = c.sock;
    c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        const ok = c.sock.write(frame);
        if (sent >= total) c.sock.write("0\r\n\r\n");
        if (!ok) return;
      }
    };
    c.sock.on("drain", pump);
    pump();
  });
  const p = await proxyTo(t, origin.port, ", upgrade_idle_timeout: 30s");
  const rss0 = process.memoryUsage().rss;
  const client = await silentClient(t, p.port("web"), UPGRADE("/ws"));
  await until(() => server !== undefined, 5_000, "the origin reading the upgrade");
  const held = await settles(() => pushed(server as Socket), total, 500, 20_000);
  const grew = process.memoryUsage().rss - rss0;
  t.diagnostic(
    `a client reading nothing: the origin pushed ${(held / MB).toFixed(1)} MB of ${total / MB} MB; RSS +${(grew / MB).toFixed(0)} MB`,
  );
  assert.ok(
    held < 48 * MB,
    `the origin pushed ${(held / MB).toFixed(1)} MB into the proxy while the client read nothing`,
  );
  // Then the client reads: the whole answer comes through (the server was paused, not cut).
  let got = 0;
  client.on("data", (d: Buffer) => {
    got += d.length;
  });
  client.resume();
  const expected = total + (total / chunk.length) * (frame.length - chunk.length) + 5;
  await until(() => got >= expected, 30_000, `the whole ${total / MB} MB answer`);
  assert.ok(got >= expected);
});

// Holds up: a plain 103 then 200 still reaches an HTTP/1.1 client (the interim cap is far above).
test("a 103 Early Hints then a 200: both reach the client", { timeout: 15_000 }, async (t) => {
  const origin = await startTunnelOrigin(t, (_h, c) => {
    c.sock.write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
    c.sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/hints"));
  const { r, interim } = await c.final();
  assert.deepEqual([interim.map((i) => i.status), r.status, r.body.toString()], [[103], 200, "ok"]);
});
