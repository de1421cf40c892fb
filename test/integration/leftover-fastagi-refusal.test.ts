// A FastAGI connection the proxy refuses (over max_connections, over max_pending, or a session
// answered FAILURE: no route, a bad header, header_timeout) is closed once its FAILURE line is
// flushed: its descriptor is not held while the peer keeps its side open. The observable state
// is the kernel's: in /proc/net/tcp the proxy's socket of the connection has an inode while a
// descriptor holds it, and none (an orphan finishing its FIN) or no row once it is closed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall, defaultHeader } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer, startSilentServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** How long a wait for the proxy or the kernel may take, even on a loaded machine. */
const WAIT_MS = 5_000;
/**
 * From the FAILURE to the close of the proxy's socket, at most: the flush takes a turn of the
 * event loop (the bound for a peer whose window is shut is 250 ms). The old code held the
 * socket 1 s (listener refusals) or 5 s (sessions) unless the peer closed first.
 */
const RELEASED_WITHIN_MS = 600;

/** Whether a descriptor of this process holds the socket from `local` to `remote` (127.0.0.1). */
function held(local: number, remote: number): boolean {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f[1] !== `0100007F:${hex(local)}` || f[2] !== `0100007F:${hex(remote)}`) continue;
    return f[9] !== "0";
  }
  return false;
}

interface Peer {
  readonly sock: net.Socket;
  got(): string;
  /** performance.now() when its FAILURE line was whole. */
  failureAt(): number | undefined;
}

/**
 * An Asterisk-side peer that sends `bytes` and then never closes its side, as a peer that
 * ignores FAILURE would; `reads: false` also never reads (its FAILURE waits in its buffer).
 */
async function peer(port: number, bytes: Buffer | undefined, reads = true): Promise<Peer> {
  const sock = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  sock.on("error", () => {});
  cleanup.push(() => {
    sock.destroy();
  });
  let got = "";
  let at: number | undefined;
  if (reads)
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (at === undefined && got.endsWith("FAILURE\n")) at = performance.now();
    });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => resolve());
    sock.once("error", reject);
  });
  if (!reads) sock.pause();
  if (bytes) sock.write(bytes);
  return { sock, got: () => got, failureAt: () => at };
}

/** Waits for the peer's FAILURE, then for the proxy's socket of it to close: ms between the two. */
async function refusalToClose(listenerPort: number, p: Peer): Promise<number> {
  await until(() => p.failureAt() !== undefined, WAIT_MS, "FAILURE received");
  const local = p.sock.localPort;
  assert.ok(local);
  await until(() => !held(listenerPort, local), WAIT_MS, "the proxy's socket closed");
  return performance.now() - (p.failureAt() ?? 0);
}

test("over max_connections: the refused connection is closed once FAILURE is flushed, the peer's side still open", async () => {
  const up = await startSilentServer();
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_connections: 1 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  await peer(p.port(), defaultHeader({ url: "agi://x/held" }));
  await until(() => up.open() === 1, WAIT_MS, "the first session reaches the server");
  const over = await peer(p.port(), defaultHeader({ url: "agi://x/over" }));
  const ms = await refusalToClose(p.port(), over);
  assert.equal(over.got(), "FAILURE\n");
  assert.ok(!over.sock.destroyed, "the peer keeps its side open");
  assert.ok(ms < RELEASED_WITHIN_MS, `closed ${ms.toFixed(1)} ms after its FAILURE`);
  await p.waitForLog((l) => l.code === "E_CONNECTION_LIMIT");
});

test("over max_pending: a refused peer that never reads is closed at once as well", async () => {
  const up = await startSilentServer();
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_pending: 1 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  // Connected, header not sent: holds the one pending slot.
  await peer(p.port(), undefined);
  await until(() => p.proxy.runtime.listener("agi")?.pending === 1, WAIT_MS, "one connection pending");
  const mute = await peer(p.port(), defaultHeader({ url: "agi://x/mute" }), false);
  await p.waitForLog((l) => l.code === "E_PENDING_LIMIT", WAIT_MS);
  const t0 = performance.now();
  const local = mute.sock.localPort;
  assert.ok(local);
  await until(() => !held(p.port(), local), WAIT_MS, "the proxy's socket closed");
  const ms = performance.now() - t0;
  assert.ok(ms < RELEASED_WITHIN_MS, `closed ${ms.toFixed(1)} ms after the refusal was logged`);
  // Its FAILURE was delivered all the same: it waits in the peer's buffer, then the FIN.
  let got = "";
  mute.sock.on("data", (d: Buffer) => {
    got += d.toString("latin1");
  });
  mute.sock.resume();
  await until(() => mute.sock.readableEnded, WAIT_MS, "the peer reads the proxy's FIN");
  assert.equal(got, "FAILURE\n");
});

test("a session answered FAILURE (no route) is closed at once and frees its max_connections place for the next call", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_connections: 1 } ]
routes: [ { listener: agi, match: { path: ^/ok$ }, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const lost = await peer(p.port(), defaultHeader({ url: "agi://x/nowhere" }));
  const ms = await refusalToClose(p.port(), lost);
  assert.equal(lost.got(), "FAILURE\n");
  assert.ok(ms < RELEASED_WITHIN_MS, `closed ${ms.toFixed(1)} ms after its FAILURE`);
  const line = await p.session(0);
  assert.equal(line.outcome, "failure_no_route");
  // The refused peer still holds its side: the place is free all the same.
  const r = await agiCall({ port: p.port(), url: "agi://x/ok" });
  assert.equal(r.status, "SUCCESS");
  assert.equal(p.logs.filter((l) => l.code === "E_CONNECTION_LIMIT").length, 0);
});

test("a session answered FAILURE at header_timeout is closed at once, the rest of its header dropped", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 200ms } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const half = defaultHeader({ url: "agi://x/slow" });
  const slow = await peer(p.port(), half.subarray(0, 20));
  const ms = await refusalToClose(p.port(), slow);
  assert.equal(slow.got(), "FAILURE\n");
  assert.ok(ms < RELEASED_WITHIN_MS, `closed ${ms.toFixed(1)} ms after its FAILURE`);
  assert.equal((await p.session(0)).outcome, "header_timeout");
  assert.equal(up.stats.sessions, 0);
});
