import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const STALL_MS = 300;
/** Far above what the kernel buffers between the peers hold on loopback (about 4 MB here). */
const FLOOD_BYTES = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x41);
/** How long a stalled session may take to be logged: the stall bound plus scheduling slack. */
const BOUND_MS = STALL_MS + 2_000;
/** relay.ts LINGER_MS: the bound on a half-closed session (the server keeps it open). */
const LINGER_MS = 5_000;
/** The bound on a session Asterisk left by FIN or reset while nothing was held for the server. */
const GONE_BOUND_MS = LINGER_MS + 2_000;

/** A FastAGI server that says one command, then never reads again (its receive window fills). */
async function startDeafServer(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    sock.pause();
    sock.write("NOOP\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function config(port: number): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, stall_timeout: ${STALL_MS}ms } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${port} } ] } }
`;
}

type Leave = "end" | "reset" | "hangup-end";

/**
 * Acts as a hostile Asterisk: sends the header, waits for the server's first command (the
 * relay runs), floods FLOOD_BYTES toward a server that does not read, then leaves.
 * Resolves true when the proxy has closed the connection, false if it kept it past the bound.
 */
function flood(port: number, leave: Leave): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, GONE_BOUND_MS + 3000);
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    sock.on("connect", () => sock.write("agi_network: yes\nagi_request: agi://x/flood\n\n"));
    sock.once("data", () => {
      for (let sent = 0; sent < FLOOD_BYTES; sent += CHUNK.length) sock.write(CHUNK);
      if (leave === "end") sock.end();
      else if (leave === "hangup-end") sock.end("HANGUP\n");
      // The reset leaves now, while the flood is still being read: whether the proxy has
      // paused Asterisk's socket by the time the RST arrives is up to the scheduler.
      else sock.resetAndDestroy();
    });
  });
}

function poolActive(p: TestProxy): number | undefined {
  return p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active;
}

test("Asterisk flooding a server that stopped reading, then leaving (FIN, RST, HANGUP+FIN): each session ends within its bound and SIGTERM's drain completes", async () => {
  const up = await startDeafServer();
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const started = Date.now();
  const clients = (["end", "reset", "hangup-end"] as const).map((leave) => flood(p.port(), leave));
  await until(() => up.accepted() === 3, 2000, "three sessions relayed");
  // Counted as placed (a monotonic total): the reset one may already have ended and given its slot back.
  await until(
    () => p.proxy.runtime.generation.pools.get("main")?.servers[0]?.total === 3,
    2000,
    "three slots taken",
  );
  // shutdown(Infinity) is SIGTERM without shutdown_timeout: it waits for every session.
  let drained = false;
  const shutdown = p.proxy.shutdown(Number.POSITIVE_INFINITY).then(() => {
    drained = true;
  });
  await until(() => drained, GONE_BOUND_MS + 1000, "shutdown(Infinity) completed");
  await shutdown;
  assert.deepEqual(await Promise.all(clients), [true, true, true], "the proxy closed every connection");
  const sessions = p.sessions();
  assert.equal(sessions.length, 3);
  // The FIN and the HANGUP+FIN wait behind 32 MB the server never takes: once the proxy has
  // paused Asterisk's socket it sees neither (the kernel holds a FIN behind unread bytes, and
  // Node polls a socket it neither reads nor writes for nothing, not even a reset), and only
  // stall_timeout ends them. The reset leaves while the flood is still read: the proxy may
  // see it first (as an error, or under load as an end of stream), and then the session is
  // Asterisk's gone, ended by stall_timeout if bytes are held for the server, else within
  // the half-close bound (the server neither reads nor closes).
  for (const s of sessions) {
    assert.equal(s.level, "warn");
    if (s.outcome === "stall_timeout") {
      const ms = s.duration_ms as number;
      assert.ok(ms >= STALL_MS - 20 && ms < BOUND_MS, `stall after ${ms}ms: ${JSON.stringify(s)}`);
      assert.match(
        String(s.error),
        new RegExp(`the server took none of \\d+ pending bytes for ${STALL_MS}ms`),
      );
    } else {
      assert.equal(s.outcome, "client_gone", JSON.stringify(s));
      assert.ok((s.duration_ms as number) < GONE_BOUND_MS, JSON.stringify(s));
    }
  }
  assert.ok(sessions.filter((s) => s.outcome === "stall_timeout").length >= 2, JSON.stringify(sessions));
  assert.equal(poolActive(p), 0);
  assert.equal(p.proxy.runtime.activeSessions, 0);
  assert.ok(Date.now() - started < GONE_BOUND_MS + 3000);
});

test("a server flooding an Asterisk that stopped reading ends in stall_timeout; a quiet session longer than stall_timeout is left alone", async () => {
  // A quiet session: the server is silent for 3 stall bounds (Asterisk playing a long prompt).
  const quietUp = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 3 * STALL_MS });
  cleanup.push(quietUp.close);
  const sockets = new Set<net.Socket>();
  const floodUp = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    const lines = Buffer.from("NOOP\n".repeat(CHUNK.length / 5));
    for (let sent = 0; sent < FLOOD_BYTES; sent += lines.length) sock.write(lines);
  });
  await new Promise<void>((resolve) => floodUp.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => floodUp.close(() => resolve()));
  });
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, stall_timeout: ${STALL_MS}ms } ]
routes:
  - { listener: agi, match: { path: ^/quiet }, pool: quiet }
  - { listener: agi, pool: flood }
pools:
  quiet: { servers: [ { address: 127.0.0.1:${quietUp.port} } ] }
  flood: { servers: [ { address: 127.0.0.1:${(floodUp.address() as net.AddressInfo).port} } ] }
`);
  cleanup.push(p.close);
  const quiet = agiCall({ port: p.port(), url: "agi://x/quiet" });
  // Asterisk that never reads: it sends the header and nothing else.
  const deaf = net.connect({ host: "127.0.0.1", port: p.port() });
  deaf.on("error", () => {});
  deaf.pause();
  deaf.write("agi_network: yes\nagi_request: agi://x/flood\n\n");
  const deafClosed = new Promise<void>((resolve) => deaf.on("close", () => resolve()));
  const s = await p.waitForLog((l) => l.event === "session" && l.request === "agi://x/flood", BOUND_MS);
  assert.equal(s.outcome, "stall_timeout", JSON.stringify(s));
  assert.match(String(s.error), /^Asterisk took none of \d+ pending bytes/);
  assert.ok((s.duration_ms as number) >= STALL_MS - 20 && (s.duration_ms as number) < BOUND_MS);
  deaf.resume();
  await deafClosed;
  const q = await quiet;
  assert.equal(q.status, "SUCCESS");
  assert.deepEqual(q.commands, ["NOOP"]);
  const qs = await p.waitForLog((l) => l.event === "session" && l.request === "agi://x/quiet");
  assert.equal(qs.outcome, "completed");
  assert.ok((qs.duration_ms as number) >= 3 * STALL_MS - 20, `quiet session lasted ${qs.duration_ms}ms`);
  await until(() => p.proxy.runtime.activeSessions === 0, 2000, "sessions released");
});
