/**
 * A hostile FastAGI server floods an Asterisk that never reads: the proxy must stop reading
 * from the server (backpressure), hold a bounded amount, and end the session at stall_timeout.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { after, test } from "node:test";
import tls from "node:tls";
import { startProxy, until } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const CHUNK = Buffer.alloc(64 * 1024, 0x41);
for (let i = 1023; i < CHUNK.length; i += 1024) CHUNK[i] = 0x0a; // whole 1 KiB lines

/** A server that, once the header is in, writes as fast as its socket takes it. */
async function startFlooder(tlsOpts?: tls.TlsOptions): Promise<{
  port: number;
  /** Bytes the server's kernel accepted (written minus what Node still buffers). */
  sent: () => number;
  closed: () => boolean;
  close(): Promise<void>;
}> {
  let sock: net.Socket | undefined;
  let queued = 0;
  let closed = false;
  const onConn = (s: net.Socket) => {
    sock = s;
    s.on("error", () => {});
    s.on("close", () => {
      closed = true;
    });
    let header = "";
    const pump = () => {
      while (!s.destroyed && queued < 1024 * 1024 * 1024) {
        queued += CHUNK.length;
        if (!s.write(CHUNK)) return void s.once("drain", pump);
      }
    };
    s.on("data", (d) => {
      if (header.includes("\n\n")) return;
      header += d.toString("latin1");
      if (header.includes("\n\n")) pump();
    });
  };
  const server = tlsOpts ? tls.createServer(tlsOpts, onConn) : net.createServer(onConn);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => queued - (sock?.writableLength ?? 0),
    closed: () => closed,
    close: () => {
      sock?.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const TLS = new URL("../fixtures/tls/", import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, TLS));

for (const [overTls, upTls] of [
  [false, false],
  [true, false],
  [false, true],
] as const) {
  const what = `${overTls ? "TLS" : "plain"} listener, ${upTls ? "TLS" : "plain"} server`;
  test(`a server flooding an Asterisk that never reads (${what}): the proxy stops reading it, holds a bounded amount, and cuts it at stall_timeout`, async () => {
    const up = await startFlooder(upTls ? { cert: pem("server.pem"), key: pem("server.key") } : undefined);
    cleanup.push(up.close);
    const upKey = upTls ? ", tls: { ca: ca.pem, servername: localhost }" : "";
    const tlsKey = overTls ? ", tls: { cert: server.pem, key: server.key }" : "";
    const p = await startProxy(
      `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, stall_timeout: 2s${tlsKey} } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port}${upKey} } ] } }
`,
      {
        files: { "server.pem": pem("server.pem"), "server.key": pem("server.key"), "ca.pem": pem("ca.pem") },
      },
    );
    cleanup.push(p.close);
    const client: net.Socket = overTls
      ? tls.connect({ host: "127.0.0.1", port: p.port(), ca: pem("ca.pem"), servername: "localhost" })
      : net.connect({ host: "127.0.0.1", port: p.port() });
    client.on("error", () => {});
    cleanup.push(async () => void client.destroy());
    await new Promise((r) => client.once(overTls ? "secureConnect" : "connect", r));
    client.pause(); // never reads
    client.write("agi_network: yes\nagi_request: agi://x/flood\n\n");
    await until(() => up.sent() > 0, 3000, "the flood started");
    // Let the buffers fill: the amount sent must level off well below the flood.
    let last = -1;
    await until(
      () => {
        const now = up.sent();
        const steady = now === last;
        last = now;
        return steady;
      },
      1500,
      "the server's sending levels off",
    ).catch(() => {});
    const sent = up.sent();
    // Loopback socket buffers between server, proxy and Asterisk hold some MB; 48 MB is far above.
    assert.ok(sent < 48 * 1024 * 1024, `the proxy took ${(sent / 1048576).toFixed(1)} MB from the server`);
    const s = await p.waitForLog((r) => r.event === "session", 6000);
    assert.equal(s.outcome, "stall_timeout", JSON.stringify(s));
    await until(() => up.closed(), 2000, "the server's socket closed");
    assert.equal(p.proxy.runtime.activeSessions, 0);
  });
}
