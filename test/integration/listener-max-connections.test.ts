import assert from "node:assert/strict";
import net, { type Socket } from "node:net";
import { after, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { defaultHeader } from "../helpers/asterisk.ts";
import { parsePromText, value } from "../helpers/prom-text.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { type SilentServer, startSilentServer } from "../helpers/upstreams.ts";

const TLS = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function silentServer(): Promise<SilentServer> {
  const s = await startSilentServer();
  cleanup.push(s.close);
  return s;
}

function client(
  port: number,
  bytes?: Buffer | string,
): { sock: Socket; got: () => string; closed: () => boolean } {
  const sock = net.connect({ host: "127.0.0.1", port });
  let got = "";
  let closed = false;
  sock.on("data", (d: Buffer) => {
    got += d.toString("latin1");
  });
  sock.on("error", () => {});
  sock.on("close", () => {
    closed = true;
  });
  if (bytes !== undefined) sock.write(bytes);
  cleanup.push(() => {
    sock.destroy();
  });
  return { sock, got: () => got, closed: () => closed };
}

test("fastagi max_connections: one more session gets FAILURE at once, a flood logs a line a second, and a freed place is taken again", async () => {
  const up = await silentServer();
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_connections: 3 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const held = [0, 1, 2].map((i) => client(p.port(), defaultHeader({ url: `agi://x/held/${i}` })));
  await until(() => up.open() === 3, 5000, "three sessions reach the server");
  // 30 more while the three are open: each is answered FAILURE and closed, none reaches the server.
  const over = Array.from({ length: 30 }, () => client(p.port(), defaultHeader({ url: "agi://x/over" })));
  await until(() => over.every((c) => c.closed()), 5000, "every connection over the cap closed");
  assert.ok(
    over.every((c) => c.got() === "FAILURE\n"),
    over.map((c) => JSON.stringify(c.got())).join(" "),
  );
  assert.equal(up.open(), 3);
  // The log: a line, then at the end of its second one more saying how many it left out.
  const lines = () => p.logs.filter((l) => l.code === "E_CONNECTION_LIMIT");
  const told = () => lines().reduce((n, l) => n + (typeof l.suppressed === "number" ? l.suppressed : 1), 0);
  await until(() => told() === 30, 5000, "every refusal told in the log");
  assert.ok(lines().length <= 8, `${lines().length} log lines for 30 refusals`);
  assert.equal(lines()[0]?.err, "3 connections already open");
  const m = p.proxy.metrics;
  assert.ok(m);
  const e = parsePromText(await m.text());
  assert.equal(
    value(e, "trunkline_listener_errors_total", { listener: "agi", code: "E_CONNECTION_LIMIT" }),
    30,
  );
  // One session ends: its place is free for the next call.
  held[0]?.sock.destroy();
  await until(
    () => p.proxy.runtime.listener("agi")?.sessions === 2 && up.open() === 2,
    5000,
    "the session ended",
  );
  const next = client(p.port(), defaultHeader({ url: "agi://x/next" }));
  await until(() => up.read().includes("agi://x/next"), 5000, "the next session reaches the server");
  assert.equal(next.got(), "");
  assert.equal(
    value(parsePromText(await m.text()), "trunkline_listener_errors_total", {
      listener: "agi",
      code: "E_CONNECTION_LIMIT",
    }),
    30,
  );
});

test("fastagi over TLS: sessions waiting for their header count once toward max_connections", async () => {
  const up = await silentServer();
  const p = await startProxy(`
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_connections: 3, tls: { cert: ${TLS}server.pem, key: ${TLS}server.key } }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const tlsClient = async (): Promise<TLSSocket> => {
    const c = tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false });
    c.on("error", () => {});
    cleanup.push(() => {
      c.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      c.once("secureConnect", () => resolve());
      c.once("close", () => reject(new Error("closed before its handshake completed")));
    });
    return c;
  };
  // Two sessions past their handshake, still in their header: two connections, not four.
  await tlsClient();
  await tlsClient();
  await until(() => p.proxy.runtime.listener("agi")?.sessions === 2, 5000, "two sessions");
  const third = await tlsClient();
  third.write(defaultHeader({ url: "agi://x/third" }));
  await until(() => up.read().includes("agi://x/third"), 5000, "the third session reaches the server");
  assert.equal(p.logs.filter((l) => l.code === "E_CONNECTION_LIMIT").length, 0);
  // The fourth is one too many.
  const fourth = tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false });
  fourth.on("error", () => {});
  cleanup.push(() => {
    fourth.destroy();
  });
  await p.waitForLog((l) => l.code === "E_CONNECTION_LIMIT", 5000);
});

test("http max_connections: a connection over the cap is closed at accept and counted", async () => {
  const up = await silentServer();
  const p = await startProxy(`
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0, max_connections: 2 } ]
routes: [ { listener: web, pool: api } ]
pools: { api: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const open = [client(p.port("web")), client(p.port("web"))];
  await until(() => open.every((c) => c.sock.readyState === "open"), 5000, "two connections open");
  const over = client(p.port("web"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await until(over.closed, 5000, "the third connection is closed");
  assert.equal(over.got(), "");
  const line = await p.waitForLog((l) => l.code === "E_CONNECTION_LIMIT");
  assert.equal(line.listener, "web");
  assert.equal(line.err, "2 connections already open");
});
