// tcp_keepalive_after: a FastAGI session gets TCP keep-alive on both of the proxy's sockets
// (the one facing Asterisk, the one facing the server) only once it is that old, instead of
// at accept and connect (eight setsockopt calls that most sessions, over in under a second,
// never need). The observable state is the kernel's: in /proc/net/tcp{,6}, the `tr` field of
// an idle established socket is 2 while its keep-alive timer is armed, 0 without keep-alive.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { parseConfigText } from "../../src/app/config.ts";
import { ConfigError } from "../../src/config/load.ts";
import { fastagi } from "../../src/protocols/fastagi/index.ts";
import { defaultHeader } from "../helpers/asterisk.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";

const TLS = new URL("../fixtures/tls/", import.meta.url);
const files = Object.fromEntries(["server.pem", "server.key"].map((n) => [n, readFileSync(new URL(n, TLS))]));

/** How long a wait for the proxy or the kernel may take, even on a loaded machine. */
const WAIT_MS = 5_000;
/** Polls every 20 ms: a wait's count bound as well as its time bound. */
const POLL_MS = 20;
const MAX_POLLS = 500;

type Timer = "on" | "off" | "busy" | "missing";

/** The `tr` and `tm->when` fields of the established socket with these ports, as text. */
function row(local: number, remote: number): { tr: string; when: string } | undefined {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
  const port = (addr: string) => addr.slice(addr.lastIndexOf(":") + 1);
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
      const [, loc, rem, st, , timer] = line.trim().split(/\s+/);
      if (loc === undefined || rem === undefined || timer === undefined || st !== "01") continue;
      if (port(loc) !== hex(local) || port(rem) !== hex(remote)) continue;
      const [tr = "", when = ""] = timer.split(":");
      return { tr, when };
    }
  }
  return undefined;
}

/**
 * The timer of the established socket with local port `local` and remote port `remote`:
 * `on` (tr 2: keep-alive armed), `off` (tr 0), `busy` (another timer, a retransmission,
 * hides the keep-alive one) or `missing`.
 */
function timerOf(local: number, remote: number): Timer {
  const r = row(local, remote);
  return r === undefined ? "missing" : r.tr === "02" ? "on" : r.tr === "00" ? "off" : "busy";
}

/** Seconds until the socket's armed keep-alive timer fires (`tm->when`, in USER_HZ = 100 ticks). */
function dueInS(sock: readonly [number, number]): number {
  const r = row(...sock);
  assert.equal(r?.tr, "02", "keep-alive armed");
  return Number.parseInt(r.when, 16) / 100;
}

/** A FastAGI server that reads the header and then says nothing: a session on hold. */
interface HoldingServer {
  readonly port: number;
  /** The proxy's port of each connection whose header came in full, in that order. */
  readonly held: number[];
  /** Connections accepted (before their header). */
  accepted(): number;
}

async function holdingServer(t: TestContext): Promise<HoldingServer> {
  const held: number[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on("error", () => {});
    sock.on("close", () => sockets.delete(sock));
    let got = "";
    sock.on("data", (d: Buffer) => {
      if (got.includes("\n\n")) return;
      got += d.toString("latin1");
      if (got.includes("\n\n") && sock.remotePort !== undefined) held.push(sock.remotePort);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const a = server.address();
  assert.ok(a !== null && typeof a === "object");
  return { port: a.port, held, accepted: () => accepted };
}

/** The proxy's two sockets of one session, and when its client started connecting. */
interface Held {
  readonly t0: number;
  /** When the server had the header, from t0 (ms): the sockets' last packet came by then. */
  readonly heldMs: number;
  /** Facing Asterisk: [local, remote] ports. */
  readonly client: readonly [number, number];
  /** Facing the server. */
  readonly server: readonly [number, number];
}

/** A session's client, connected and its header written; the proxy's socket facing it. */
interface Opened {
  readonly t0: number;
  /** How many sessions the server held before this one. */
  readonly n: number;
  readonly client: readonly [number, number];
}

/** Opens a session through the proxy: connects and sends the header. */
async function open(t: TestContext, p: TestProxy, up: HoldingServer, tls = false): Promise<Opened> {
  const n = up.held.length;
  const t0 = Date.now();
  const sock: Socket = tls
    ? tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false })
    : connect(p.port(), "127.0.0.1");
  t.after(() => {
    sock.destroy();
  });
  sock.on("error", () => {});
  let ready = false;
  sock.once(tls ? "secureConnect" : "connect", () => {
    ready = true;
    sock.write(defaultHeader({ url: "agi://x/hold" }));
  });
  await until(() => ready, WAIT_MS, "the connection to the proxy");
  assert.ok(sock.localPort !== undefined);
  return { t0, n, client: [p.port(), sock.localPort] };
}

/** Waits until the server holds the session (the relay runs). */
async function held(up: HoldingServer, o: Opened): Promise<Held> {
  await until(() => up.held.length > o.n, WAIT_MS, "the header at the server");
  return { t0: o.t0, heldMs: Date.now() - o.t0, client: o.client, server: [up.held[o.n] as number, up.port] };
}

/** Opens a session through the proxy and waits until the server holds it. */
async function hold(t: TestContext, p: TestProxy, up: HoldingServer, tls = false): Promise<Held> {
  return held(up, await open(t, p, up, tls));
}

/** Both sockets' timers, read again (bounded) while a retransmission timer hides one. */
async function timers(h: Held): Promise<{ client: Timer; server: Timer }> {
  for (let i = 0; ; i++) {
    const r = { client: timerOf(...h.client), server: timerOf(...h.server) };
    if ((r.client !== "busy" && r.server !== "busy") || i >= 50) return r;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Asserts a session younger than `afterMs` has no keep-alive yet. Its age is measured from
 * before its client connected, after the sockets were read: an upper bound on the age the
 * proxy sees. A check that came too late (a loaded machine) asserts nothing, and says so.
 */
async function noneWhileYoung(t: TestContext, h: Held, afterMs: number, name: string): Promise<void> {
  const r = await timers(h);
  const age = Date.now() - h.t0;
  if (age >= afterMs) {
    t.diagnostic(`${name}: checked at ${age} ms, not younger than ${afterMs} ms: "none yet" not asserted`);
    return;
  }
  t.diagnostic(`${name}: checked at ${age} ms: no keep-alive yet on either socket, as expected`);
  assert.deepEqual(r, { client: "off", server: "off" }, `${name} at ${age} ms`);
}

/** Waits (bounded) until both of the session's sockets have keep-alive; returns its age then. */
async function bothOn(h: Held, name: string): Promise<number> {
  let last = { client: "missing", server: "missing" };
  const end = Date.now() + WAIT_MS;
  for (let i = 0; ; i++) {
    last = await timers(h);
    if (last.client === "on" && last.server === "on") return Date.now() - h.t0;
    if (Date.now() > end || i >= MAX_POLLS)
      assert.fail(`${name}: keep-alive not on both sockets within ${WAIT_MS} ms: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * The kernel counts keep-alive's 60 s from a socket's last packet received, not from when
 * keep-alive was turned on: a peer silent since the session's start is still probed after 60 s
 * of silence. Each socket's timer is due 60 s after a point between t0 and heldMs (plus a
 * delayed ACK and the ticks' rounding); counted from the sweep, it would be due ~60 s from now.
 */
function assertDueFromLastPacket(t: TestContext, h: Held, name: string): void {
  for (const side of ["client", "server"] as const) {
    const due = dueInS(h[side]);
    const age = (Date.now() - h.t0) / 1000;
    // Keep-alive came on at 1 s of age at the earliest, and the last packet by heldMs: counted
    // from that packet the timer is due at most 60 - (1 - heldMs) s from then, and less at any
    // later reading (a bound that holds however late this check runs on a busy machine).
    const hi = 60 - 1 + h.heldMs / 1000 + 0.25;
    t.diagnostic(`${name}, ${side} side: first probe due in ${due.toFixed(2)} s at ${age.toFixed(2)} s old`);
    assert.ok(due > 0 && due <= hi, `${name}, ${side}: due in ${due} s, not within (0, ${hi}]`);
  }
}

function config(port: number, listenerKeys: string): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0${listenerKeys} } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${port} } ] } }
`;
}

test("tcp_keepalive_after: 1s: keep-alive on both sockets of a session once it is 1 s old, not before", async (t) => {
  const up = await holdingServer(t);
  const p = await startProxy(config(up.port, ", tcp_keepalive_after: 1s"));
  t.after(() => p.close());

  const a = await hold(t, p, up);
  await noneWhileYoung(t, a, 1_000, "session A");
  const aOn = await bothOn(a, "session A");
  t.diagnostic(`session A: keep-alive on both sockets at ${aOn} ms`);
  assert.ok(aOn >= 1_000, `keep-alive at ${aOn} ms, before the session was 1 s old`);
  assertDueFromLastPacket(t, a, "session A");

  // Opened after: the sweep stops at it while it is young, and turns it on once it is 1 s old.
  const b = await hold(t, p, up);
  await noneWhileYoung(t, b, 1_000, "session B");
  assert.deepEqual(await timers(a), { client: "on", server: "on" }, "session A keeps it");
  const bOn = await bothOn(b, "session B");
  t.diagnostic(`session B: keep-alive on both sockets at ${bOn} ms`);
  assert.ok(bOn >= 1_000, `keep-alive at ${bOn} ms, before the session was 1 s old`);
  assertDueFromLastPacket(t, b, "session B");
});

test("a session that turns 1 s old while it is still routing: the server's socket has keep-alive from its connect", async (t) => {
  const up = await holdingServer(t);
  // The route script answers after 2.5 s: the sweep (every 500 ms) finds the session 1 s old first.
  const script =
    "export default async () => { await new Promise((r) => setTimeout(r, 2500)); return 'main'; }";
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, tcp_keepalive_after: 1s } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 5s } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "route.mjs": script } },
  );
  t.after(() => p.close());
  const o = await open(t, p, up);
  const acceptedBefore = up.accepted();
  const end = Date.now() + WAIT_MS;
  for (let i = 0; timerOf(...o.client) !== "on"; i++) {
    if (Date.now() > end || i >= MAX_POLLS)
      assert.fail(`Asterisk's socket has no keep-alive within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const onAt = Date.now() - o.t0;
  // No connection at the server yet: the proxy's connect had not completed when the sweep came
  // (the server's accept completes with it, and runs in this same event loop).
  const connectedFirst = up.accepted() > acceptedBefore;
  const h = await held(up, o);
  if (connectedFirst) {
    t.diagnostic("the server had the session before the sweep came (a loaded machine): case not asserted");
    await bothOn(h, "session");
    return;
  }
  const r = await timers(h);
  t.diagnostic(
    `Asterisk's socket had keep-alive at ${onAt} ms, before the server accepted the proxy's connect`,
  );
  assert.deepEqual(r, { client: "on", server: "on" }, "the server's socket got it at its connect");
});

test("tcp_keepalive_after: 0s: keep-alive on both sockets at once, from accept and connect", async (t) => {
  const up = await holdingServer(t);
  const p = await startProxy(config(up.port, ", tcp_keepalive_after: 0s"));
  t.after(() => p.close());
  const h = await hold(t, p, up);
  assert.deepEqual(await timers(h), { client: "on", server: "on" });
});

test("a TLS listener has keep-alive at once on both sockets (a plain server too), whatever the threshold", async (t) => {
  const up = await holdingServer(t);
  const p = await startProxy(
    config(up.port, ", tls: { cert: server.pem, key: server.key }, tcp_keepalive_after: 1h"),
    { files },
  );
  t.after(() => p.close());
  const h = await hold(t, p, up, true);
  assert.deepEqual(await timers(h), { client: "on", server: "on" });
});

test("tcp_keepalive_after: abc is refused with a clear error", () => {
  assert.throws(
    () => parseConfigText(config(4574, ", tcp_keepalive_after: abc"), "t.yaml"),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /^t\.yaml:2:\d+ listeners\[0\]\.tcp_keepalive_after: invalid duration "abc" \(use e\.g\. 500ms, 2s, 1m\)$/,
      );
      return true;
    },
  );
});

test("a changed tcp_keepalive_after needs a new listener (its sweep and accept options are set at start)", () => {
  const listener = (keys: string) => {
    const l = parseConfigText(config(4574, keys), "t.yaml").listeners[0];
    assert.ok(l);
    return l;
  };
  const dflt = listener("");
  assert.equal(fastagi.sameBinding(dflt, listener(", tcp_keepalive_after: 30s")), true);
  assert.equal(fastagi.sameBinding(dflt, listener(", tcp_keepalive_after: 10s")), false);
  assert.equal(fastagi.sameBinding(dflt, listener(", tcp_keepalive_after: 0s")), false);
});
