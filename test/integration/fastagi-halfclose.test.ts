import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall, LineReader } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const COMMANDS = ["SET VARIABLE A 1", "SET VARIABLE B 2"];

/**
 * A FastAGI server that, once the header is in, writes all its commands at once and closes
 * its sending side (FIN) without waiting for a reply, then reads on until its peer closes:
 * every line it got after the header is kept per session.
 */
async function startHalfCloseServer(): Promise<{
  port: number;
  /** Per session, in order of arrival: the lines received after the header, once the peer closed. */
  done: string[][];
  close(): Promise<void>;
}> {
  const done: string[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let head = "";
    let inBody = false;
    const lines = new LineReader();
    const got: string[] = [];
    sock.on("data", (chunk: Buffer) => {
      let body = chunk;
      if (!inBody) {
        head += chunk.toString("latin1");
        const end = head.indexOf("\n\n");
        if (end < 0) return;
        inBody = true;
        body = Buffer.from(head.slice(end + 2), "latin1");
        sock.end(COMMANDS.map((c) => `${c}\n`).join(""));
      }
      got.push(...lines.push(body));
    });
    sock.on("end", () => {
      done.push(got);
      sock.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    done,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test("a server that writes its commands and half-closes gets every reply and the final HANGUP, as when connected directly", async () => {
  const up = await startHalfCloseServer();
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  // res_agi.c answers each command, then, on the server's FIN, writes HANGUP and closes.
  const expected = ["200 result=1", "200 result=1", "HANGUP"];

  const direct = await agiCall({ port: up.port, url: "agi://x/direct", reply: () => "200 result=1" });
  assert.equal(direct.status, "SUCCESS");
  assert.deepEqual(direct.commands, COMMANDS);
  await until(() => up.done.length === 1, 2000, "direct session over");
  assert.deepEqual(up.done[0], expected, "direct connection");

  for (let i = 0; i < 20; i++) {
    const r = await agiCall({ port: p.port(), url: `agi://x/relayed/${i}`, reply: () => "200 result=1" });
    assert.equal(r.status, "SUCCESS", `session ${i}`);
    assert.equal(r.closedBy, "server", `session ${i}`);
    assert.deepEqual(r.commands, COMMANDS, `session ${i}`);
    await until(() => up.done.length === i + 2, 2000, `relayed session ${i} over at the server`);
    assert.deepEqual(up.done[i + 1], expected, `relayed session ${i}`);
    const s = await p.session(i);
    assert.equal(s.outcome, "completed", `session ${i}: ${JSON.stringify(s)}`);
    assert.equal(s.level, "info");
    assert.equal(s.error, undefined);
  }
  await until(() => p.proxy.runtime.activeSessions === 0, 2000, "sessions released");
  assert.equal(p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active, 0);
});

test("after Asterisk's side closes first, what the server still sends reaches it, then the server's close", async () => {
  // A server that answers the peer's FIN with one last line: a TCP proxy must carry it.
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let head = "";
    sock.on("data", (chunk: Buffer) => {
      if (head.includes("\n\n")) return;
      head += chunk.toString("latin1");
      if (head.includes("\n\n")) sock.write("NOOP\n");
    });
    sock.on("end", () => sock.end("VERBOSE bye\n"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${(server.address() as net.AddressInfo).port} } ] } }
`);
  cleanup.push(p.close);
  const received = await new Promise<string[]>((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port: p.port(), allowHalfOpen: true });
    const lines = new LineReader();
    const got: string[] = [];
    const timer = setTimeout(
      () => reject(new Error(`no close within 3000ms; got ${JSON.stringify(got)}`)),
      3000,
    );
    sock.on("connect", () => sock.write("agi_network: yes\nagi_request: agi://x/y\n\n"));
    sock.on("data", (chunk: Buffer) => {
      got.push(...lines.push(chunk));
      // The relay runs (the server spoke): now close our sending side only.
      if (got.length === 1) sock.end();
    });
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
  assert.deepEqual(received, ["NOOP", "VERBOSE bye"]);
  const s = await p.session(0);
  assert.equal(s.outcome, "client_gone");
  assert.equal(s.level, "warn");
});
