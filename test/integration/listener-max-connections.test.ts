import assert from "node:assert/strict";
import net, { createServer, type Socket } from "node:net";
import { after, test } from "node:test";
import { defaultHeader } from "../helpers/asterisk.ts";
import { parsePromText, value } from "../helpers/prom-text.ts";
import { startProxy, until } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A server that takes each connection and says nothing (HTTP or FastAGI alike). */
async function silentServer(): Promise<{ port: number; open: () => number }> {
  const held = new Set<Socket>();
  const server = createServer((s) => {
    held.add(s);
    s.on("error", () => {});
    s.on("close", () => held.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as { port: number }).port, open: () => held.size };
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
  const lines = p.logs.filter((l) => l.code === "E_CONNECTION_LIMIT");
  assert.ok(
    lines.length >= 1 && lines.length <= 6,
    `${lines.length} log lines for 30 refusals (one a second at most)`,
  );
  assert.equal(lines[0]?.err, "3 connections already open");
  const m = p.proxy.metrics;
  assert.ok(m);
  const e = parsePromText(await m.text());
  assert.equal(
    value(e, "trunkline_listener_errors_total", { listener: "agi", code: "E_CONNECTION_LIMIT" }),
    30,
  );
  // One session ends: its place is free for the next call.
  held[0]?.sock.destroy();
  await until(() => p.proxy.runtime.listener("agi")?.sessions === 2, 5000, "the ended session left");
  const next = client(p.port(), defaultHeader({ url: "agi://x/next" }));
  await until(() => up.open() === 3, 5000, "the next session reaches the server");
  assert.equal(next.got(), "");
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
  await until(() => p.proxy.runtime.listener("web")?.sessions !== undefined, 1000, "listener up").catch(
    () => {},
  );
  const over = client(p.port("web"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await until(over.closed, 5000, "the third connection is closed");
  assert.equal(over.got(), "");
  const line = await p.waitForLog((l) => l.code === "E_CONNECTION_LIMIT");
  assert.equal(line.listener, "web");
  assert.equal(line.err, "2 connections already open");
});
