import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { EslClient, EslClientEvents } from "../../src/health/esl/client.ts";
import {
  countingTimers,
  eslFrame,
  eslTestKit,
  nextEvent,
  startFakeFreeSwitch,
} from "../helpers/freeswitch-esl.ts";

const { fake, client, onCleanup } = eslTestKit();

/** The next `n` down events. */
function downs(c: EslClient, n: number): Promise<EslClientEvents["down"][]> {
  return new Promise((resolve) => {
    const seen: EslClientEvents["down"][] = [];
    const off = c.on("down", (d) => {
      seen.push(d);
      if (seen.length < n) return;
      off();
      resolve(seen);
    });
  });
}

test("connects, authenticates, subscribes, and reports each heartbeat's figures", async () => {
  const fs = await fake();
  const c = client(fs.port);
  const up = nextEvent(c, "up");
  c.start();
  assert.deepEqual(await up, { host: "127.0.0.1", port: fs.port });
  assert.equal(c.state, "up");
  assert.equal(fs.subscribers, 1);
  const beat = nextEvent(c, "heartbeat");
  const before = Date.now();
  fs.heartbeat({ sessionCount: 12, maxSessions: 500, idleCpu: 88.25, sessionsPerSecLast: 3 });
  const r = await beat;
  assert.equal(r.sessionCount, 12);
  assert.equal(r.maxSessions, 500);
  assert.equal(r.idleCpu, 88.25);
  assert.equal(r.sessionsPerSecLast, 3);
  assert.equal(r.hostname, "fs-1.example.net");
  assert.ok(r.at >= before && r.at <= Date.now());
  assert.deepEqual(c.lastReport, r);
  const closed = once(fs, "closed");
  c.close();
  await closed;
  assert.equal(c.state, "closed");
});

test("a heartbeat without its figures is a warning, not a disconnect", async () => {
  const fs = await fake();
  const c = client(fs.port);
  const up = nextEvent(c, "up");
  c.start();
  await up;
  const warn = nextEvent(c, "warning");
  fs.broadcast(eslFrame("text/event-plain", "Event-Name: HEARTBEAT\nIdle-CPU: 99.0\n\n"));
  assert.match((await warn).message, /without Session-Count/);
  assert.equal(c.state, "up");
});

test("wrong password: reported, retried after growing delays; the backoff starts over at the first heartbeat, not at the password", async () => {
  const fs = await fake();
  fs.password = "not-ClueCon";
  const attempts: number[] = [];
  fs.on("auth", (a) => attempts.push(a.at));
  const c = client(fs.port);
  const five = downs(c, 5);
  c.start();
  const d = await five;
  assert.deepEqual(
    d.map((x) => [x.reason, x.message, x.wasUp, x.retryInMs]),
    [5, 10, 20, 40, 40].map((ms) => ["auth_rejected", "-ERR invalid", false, ms]),
  );
  // The next attempt really waited at least that long (1 ms of timer rounding allowed).
  for (let i = 1; i < attempts.length; i++)
    assert.ok(attempts[i]! - attempts[i - 1]! >= d[i - 1]!.retryInMs - 1, `gap ${i}`);
  fs.password = "ClueCon";
  await nextEvent(c, "up");
  // Accepted, then dropped before any heartbeat: the backoff goes on growing (a peer that
  // accepts and drops is not retried every 5 ms).
  const dropped = nextEvent(c, "down");
  fs.dropAll();
  const early = await dropped;
  assert.equal(early.wasUp, true);
  assert.equal(early.reason, "closed");
  assert.equal(early.retryInMs, 40, "no reset for an accepted password alone");
  await nextEvent(c, "up");
  const beat = nextEvent(c, "heartbeat");
  fs.heartbeat();
  await beat;
  const again = nextEvent(c, "down");
  fs.dropAll();
  const lost = await again;
  assert.equal(lost.retryInMs, 5, "reset after a real heartbeat");
  await nextEvent(c, "up");
});

test("server down: attempts back off, and the client comes back up when the server does", async () => {
  const first = await startFakeFreeSwitch();
  const port = first.port;
  await first.close();
  const c = client(port);
  const three = downs(c, 3);
  c.start();
  const d = await three;
  assert.deepEqual(
    d.map((x) => [x.reason, x.message, x.retryInMs]),
    [
      ["connect_failed", "ECONNREFUSED", 5],
      ["connect_failed", "ECONNREFUSED", 10],
      ["connect_failed", "ECONNREFUSED", 20],
    ],
  );
  const up = nextEvent(c, "up");
  const fs = await startFakeFreeSwitch(port);
  onCleanup(() => fs.close());
  await up;
  const beat = nextEvent(c, "heartbeat");
  fs.heartbeat();
  assert.equal((await beat).sessionCount, 7);
});

test("silent server: the watchdog fires after heartbeatTimeoutMs without a heartbeat, then it reconnects", async () => {
  const fs = await fake();
  const c = client(fs.port, { heartbeatTimeoutMs: 200 });
  const up = nextEvent(c, "up");
  c.start();
  await up;
  const beat = nextEvent(c, "heartbeat");
  fs.heartbeat();
  const { at } = await beat;
  const silent = nextEvent(c, "silent");
  const down = nextEvent(c, "down");
  const s = await silent;
  assert.deepEqual(s, { timeoutMs: 200, lastHeartbeatAt: at });
  assert.ok(Date.now() - at >= 198, "only after the timeout");
  const d = await down;
  assert.equal(d.reason, "silent");
  assert.equal(d.wasUp, true);
  const reconnected = nextEvent(c, "up");
  await reconnected;
  assert.equal(fs.subscribers, 1, "the silent connection was closed, a new one subscribed");
});

test("close() leaves no timer and no socket, whatever state the client is in", async () => {
  const fs = await fake();
  for (const stage of ["up", "waiting", "authenticating"] as const) {
    const timers = countingTimers();
    if (stage === "waiting") fs.password = "wrong";
    if (stage === "authenticating") fs.mute = true;
    const c = client(fs.port, { timers, heartbeatTimeoutMs: 60_000 });
    const reached =
      stage === "up"
        ? nextEvent(c, "up")
        : stage === "waiting"
          ? nextEvent(c, "down")
          : once(fs, "connection");
    c.start();
    await reached;
    assert.ok(timers.live() > 0, `${stage}: a timer is pending`);
    const closed = fs.sockets.size > 0 ? once(fs, "closed") : Promise.resolve();
    c.close();
    assert.equal(timers.live(), 0, `${stage}: no timer left`);
    await closed;
    assert.equal(fs.sockets.size, 0, `${stage}: no socket left`);
    fs.password = "ClueCon";
    fs.mute = false;
  }
});

test("a process whose client has been closed exits at once (timers kept referenced to prove it)", async () => {
  const script = `
    import { EslClient } from "./src/health/esl/client.ts";
    import { startFakeFreeSwitch } from "./test/helpers/freeswitch-esl.ts";
    const fs = await startFakeFreeSwitch();
    const timers = { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h) };
    const c = new EslClient({ host: "127.0.0.1", port: fs.port, password: "ClueCon", timers });
    c.on("up", async () => { fs.heartbeat(); });
    c.on("heartbeat", async () => { c.close(); await fs.close(); console.log("closed"); });
    c.start();
  `;
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const [code] = await once(child, "exit");
  clearTimeout(killer);
  assert.equal(code, 0, out);
  assert.match(out, /closed/);
});
