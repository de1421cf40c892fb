/**
 * Hostile or broken FreeSWITCH event sockets against a running proxy: what the operator sees
 * (admin API, log lines) and what the peer sees (connections, closes).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { eslFrame, heartbeatBody } from "../helpers/freeswitch-esl.ts";
import {
  adminProxy,
  eslHandshake,
  everyOnSocket,
  rawHeartbeat,
  rawPeer,
  sipEslConfig,
  sleep,
  waitUntil,
} from "../helpers/peer-attack.ts";

const GOOD = heartbeatBody({
  sessionCount: 7,
  maxSessions: 1000,
  idleCpu: 97.5,
  sessionsPerSecLast: 1,
  hostname: "fs-good",
});

// A defect found by attacking the proxy, fixed: a peer that accepts the password and then drops the connection is reconnected every 150 ms forever: the backoff restarts at every accepted auth.
test("esl: a box that authenticates, subscribes, then drops the connection is retried with a growing backoff, not every 150 ms", async () => {
  const peer = await rawPeer((s) => eslHandshake(s, (sock) => setTimeout(() => sock.destroy(), 5)));
  const a = await adminProxy(sipEslConfig(5191, peer.port));
  await waitUntil(() => peer.accepted.length >= 1, 3000, "first connection");
  const t0 = peer.accepted[0]!;
  await sleep(4000);
  const inWindow = peer.accepted.filter((t) => t - t0 <= 4000).length;
  const flaps = a.p.logs.filter((r) => r.event === "server_state" && r.layer === "esl").length;
  // README: "reconnect with backoff 150 ms × 1.7 up to 60 s": 150, 255, 434, 737, 1253, 2130 ms
  // → about 6 connections in 4 s. A backoff that restarts on every accepted auth makes ~25.
  assert.ok(
    inWindow <= 10,
    `${inWindow} connections in 4 s to an event socket that drops every session (backoff restarted); ${flaps} esl server_state log lines`,
  );
});

// A defect found by attacking the proxy, fixed: a HEARTBEAT whose load figures are garbage (Session-Count: -5, Idle-CPU: NaN, Max-Sessions: 1e309) is dropped without any log line: the client's "warning" event has no listener in esl-source.ts.
test("esl: a heartbeat with absurd figures is ignored and says so in the log", async () => {
  let sock: import("node:net").Socket | undefined;
  const peer = await rawPeer((s) =>
    eslHandshake(s, (x) => {
      sock = x;
      x.write(eslFrame("text/event-plain", GOOD));
    }),
  );
  const a = await adminProxy(sipEslConfig(5192, peer.port));
  const addr = "127.0.0.1:5192";
  await waitUntil(
    async () => (await a.server("fs", addr))?.layers.esl.report?.session_count === 7,
    5000,
    "the good heartbeat read",
  );
  const before = a.p.logs.length;
  for (const bad of [
    { "Session-Count": "-5", "Max-Sessions": "1000", "Idle-CPU": "90" },
    { "Session-Count": "1", "Max-Sessions": "1e309", "Idle-CPU": "90" },
    { "Session-Count": "1", "Max-Sessions": "1000", "Idle-CPU": "NaN" },
  ])
    sock!.write(rawHeartbeat(bad));
  await sleep(1000);
  const s = await a.server("fs", addr);
  assert.equal(s.layers.esl.report.session_count, 7, "the bad figures were not taken");
  const said = a.p.logs
    .slice(before)
    .filter((r) => r.level === "warn" || r.level === "error")
    .filter((r) => JSON.stringify(r).includes(addr));
  assert.ok(
    said.some((r) => /Session-Count|Max-Sessions|Idle-CPU|heartbeat/i.test(JSON.stringify(r))),
    `no warning names the server and the bad heartbeat; lines since: ${JSON.stringify(a.p.logs.slice(before))}`,
  );
});

// Covers (passes): a frame announcing Content-Length 999999999 is refused before its body comes;
// the server is down with the reason, the socket is closed, and a sane reconnect brings it back.
test("esl: an endless frame (Content-Length: 999999999) is cut at once, reported, and the box recovers", async () => {
  const peer = await rawPeer((s, n) =>
    eslHandshake(s, (x) => {
      if (n === 1) x.write("Content-Length: 999999999\nContent-Type: text/event-plain\n\nEvent-Name: HEART");
      else x.write(eslFrame("text/event-plain", GOOD));
    }),
  );
  const a = await adminProxy(sipEslConfig(5193, peer.port));
  const addr = "127.0.0.1:5193";
  const down = await a.p.waitForLog(
    (r) => r.event === "server_state" && r.layer === "esl" && r.to === "down",
    5000,
  );
  assert.match(String(down.reason), /protocol error \(body_too_large/);
  await waitUntil(() => peer.closedByProxy >= 1, 3000, "the proxy closed the endless frame's socket");
  await waitUntil(
    async () => {
      const s = await a.server("fs", addr);
      return s.state === "up" && s.layers.esl.down === null && s.layers.esl.report?.session_count === 7;
    },
    5000,
    "back up after a sane reconnect",
  );
});

// Covers (passes): a heartbeat dripped one byte per 100 ms never completes; the watchdog takes the
// server down after heartbeat_timeout and the proxy closes that socket (it holds no buffer for good).
test("esl: a heartbeat that drips one byte per 100 ms trips the watchdog and the socket is closed", async () => {
  const frame = eslFrame("text/event-plain", GOOD);
  const peer = await rawPeer((s, n) =>
    eslHandshake(s, (x) => {
      if (n === 1) everyOnSocket(x, 100, 150, (i) => x.write(frame[i % frame.length]!));
    }),
  );
  const a = await adminProxy(sipEslConfig(5194, peer.port, "1s"));
  const addr = "127.0.0.1:5194";
  const t0 = performance.now();
  await waitUntil(
    async () => String((await a.server("fs", addr))?.layers.esl.down).includes("no heartbeat for 1s"),
    6000,
    "down by the watchdog",
  );
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `down after ${Math.round(ms)} ms`);
  await waitUntil(() => peer.closedByProxy >= 1, 3000, "the dripping socket closed by the proxy");
  assert.equal((await a.server("fs", addr)).state, "down");
});

// Covers (passes): a box that accepts and never sends auth/request is abandoned at the auth
// timeout (5 s), marked down with the reason, and its socket closed.
test("esl: a box that accepts and says nothing is down after the auth timeout, its socket closed", async () => {
  const peer = await rawPeer(() => {});
  const a = await adminProxy(sipEslConfig(5195, peer.port));
  const addr = "127.0.0.1:5195";
  await waitUntil(
    async () => String((await a.server("fs", addr))?.layers.esl.down).includes("auth timeout"),
    9000,
    "down with auth timeout",
  );
  await waitUntil(() => peer.closedByProxy >= 1, 2000, "the silent socket closed by the proxy");
  assert.ok(peer.open.size <= 1, `${peer.open.size} sockets open to a silent box`);
});

// A defect found by attacking the proxy, fixed: a box that never answers our `auth` but sends HEARTBEAT events gets its figures used: client.ts reads text/event-plain in any state, before auth and subscription are accepted.
test("esl: events sent before the password is accepted are not load reports", async () => {
  const peer = await rawPeer((s) => {
    s.write(eslFrame("auth/request"));
    s.once("data", () =>
      // no command/reply to `auth`: an event instead
      s.write(rawHeartbeat({ "Session-Count": "0", "Max-Sessions": "1000", "Idle-CPU": "100" })),
    );
  });
  const a = await adminProxy(sipEslConfig(5196, peer.port));
  const addr = "127.0.0.1:5196";
  await waitUntil(() => peer.accepted.length >= 1, 3000, "connected");
  await sleep(1500);
  const s = await a.server("fs", addr);
  assert.equal(
    s.layers.esl.report,
    null,
    `a report from a connection that never authenticated: ${JSON.stringify(s.layers.esl.report)}`,
  );
});
