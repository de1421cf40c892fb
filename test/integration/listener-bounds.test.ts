import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { agiCall } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const TLS = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Opens `n` TCP connections that never send a byte; resolves once all are connected. */
async function idleConnections(port: number, n: number): Promise<{ socks: Socket[]; closed: () => number }> {
  let closed = 0;
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve) => {
          const s = connect({ host: "127.0.0.1", port });
          s.on("error", () => {});
          s.on("close", () => closed++);
          // Read whatever comes (a FAILURE line), so the end of the stream is seen.
          s.resume();
          s.once("connect", () => resolve(s));
          // A refused or reset connect still counts as "done opening".
          s.once("close", () => resolve(s));
        }),
    ),
  );
  cleanup.push(() => {
    for (const s of socks) s.destroy();
  });
  return { socks, closed: () => closed };
}

test("a TLS client that never starts its handshake is closed after header_timeout", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(
    `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 300ms, tls: { cert: ${TLS}server.pem, key: ${TLS}server.key } }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
  );
  cleanup.push(p.close);
  const idle = await idleConnections(p.port(), 100);
  // Node 20 reports the timeout (tlsClientError) and leaves the socket open: we close it.
  await until(() => idle.closed() === 100, 5000, "every silent TLS client closed");
  await p.waitForLog((l) => l.code === "E_TLS_HANDSHAKE");
});

test("max_pending caps connections still in their header: the rest are closed at accept, then sessions work", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 10s, max_pending: 5 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const idle = await idleConnections(p.port(), 12);
  // Seven are over the cap and are closed at once, long before the 10 s header timeout.
  await until(() => idle.closed() === 7, 3000, "connections over max_pending closed");
  await p.waitForLog((l) => l.code === "E_PENDING_LIMIT");
  // Over the cap, a FastAGI client hears FAILURE (AGISTATUS=FAILURE), not a silent close.
  const refused = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(refused.status, "FAILURE");
  // The five pending ones hold their slots until they leave.
  for (const s of idle.socks) s.destroy();
  await until(() => p.proxy.runtime.listener("agi")?.pending === 0, 3000, "pending slots free");
  const r = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP"]);
});

test("1,100 silent TLS connections under ulimit -n 1024 do not starve a plain listener", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const dir = mkdtempSync(join(tmpdir(), "tl-fd-"));
  const file = join(dir, "t.yaml");
  writeFileSync(
    file,
    `
listeners:
  - { name: tls, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 3s, tls: { cert: ${TLS}server.pem, key: ${TLS}server.key } }
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
routes:
  - { listener: tls, pool: main }
  - { listener: agi, pool: main }
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
  );
  const proc = startCli(["run", "-c", file, "--no-watch"], { maxOpenFiles: 1024 });
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started");
  const ports = proc.lines.filter((l) => l.msg === "listening");
  const tlsPort = Number(ports.find((l) => l.listener === "tls")?.port);
  const plainPort = Number(ports.find((l) => l.listener === "agi")?.port);
  const idle = await idleConnections(tlsPort, 1100);
  // At most max_pending (256) of them are kept; the rest are closed at accept.
  await until(() => idle.closed() >= 1100 - 256, 5000, "connections over the cap closed");
  const r = await agiCall({ port: plainPort, url: "agi://x/y" });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP"]);
  await until(() => idle.closed() === 1100, 8000, "the rest closed at header_timeout");
});

test("TLS: a session whose header is complete no longer counts as pending (max_pending: 1 serves three at once)", async () => {
  // A server that takes the session and says nothing: the sessions stay open.
  const held: Socket[] = [];
  const up = createServer((s) => {
    held.push(s);
    s.resume();
  });
  await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
  const upPort = (up.address() as { port: number }).port;
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        up.close(() => r());
      }),
  );
  const p = await startProxy(
    `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_pending: 1, tls: { cert: ${TLS}server.pem, key: ${TLS}server.key } }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${upPort} } ] } }
`,
  );
  cleanup.push(p.close);
  const header = readFileSync(
    new URL("../fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url),
  );
  const clients: Socket[] = [];
  cleanup.push(() => {
    for (const c of clients) c.destroy();
  });
  for (let i = 1; i <= 3; i++) {
    const c = tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false });
    c.on("error", () => {});
    clients.push(c);
    c.once("secureConnect", () => c.write(header));
    // Each one reaches the server, and its pending slot is free again for the next.
    await until(() => held.length === i, 5000, `session ${i} reached the server`);
    await until(() => p.proxy.runtime.listener("agi")?.pending === 0, 3000, `session ${i} no longer pending`);
  }
  assert.equal(p.proxy.runtime.listener("agi")?.sessions, 3);
  assert.ok(
    clients.every((c) => !c.destroyed),
    "no client was turned away",
  );
});
