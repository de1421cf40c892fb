import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CheckRunner } from "../../src/agent/check-runner.ts";
import { AgentServer } from "../../src/agent/server.ts";
import { silentLog } from "../../src/core/types.ts";
import { probeAgent } from "../../src/health/agent-probe.ts";
import { askAgent, startAgent, untilReply } from "../helpers/agent.ts";
import { runCli } from "../helpers/cli.ts";

const cleanup: (() => void)[] = [];
after(() => {
  for (const c of cleanup.reverse()) c();
});
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "tl-agent-"));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

test("replies from the state file; SIGUSR1/SIGUSR2 keep weight and maxconn and save atomically; SIGHUP re-reads", async () => {
  const d = dir();
  const f = join(d, "state.json");
  writeFileSync(f, '{"status":"DRAIN","weight":50,"maxconn":10}');
  const { proc, port } = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f]);
  cleanup.push(() => proc.kill());
  assert.equal(await askAgent(port, "be/s1\n"), "up drain 50% maxconn:10\n");
  proc.child.kill("SIGUSR1");
  assert.equal(await untilReply(port, /^up ready/), "up ready 50% maxconn:10\n");
  assert.deepEqual(JSON.parse(readFileSync(f, "utf8")), { status: "UP", weight: 50, maxconn: 10 });
  proc.child.kill("SIGUSR2");
  assert.equal(await untilReply(port, /^down/), "down ready 50% maxconn:10\n");
  assert.deepEqual(JSON.parse(readFileSync(f, "utf8")), { status: "DOWN", weight: 50, maxconn: 10 });
  writeFileSync(f, '{"status":"READY","weight":77}');
  proc.child.kill("SIGHUP");
  assert.equal(await untilReply(port, /77%/), "up ready 77%\n");
  writeFileSync(f, "{broken");
  proc.child.kill("SIGHUP");
  assert.equal(await untilReply(port, /maint/), "maint\n");
  const warn = await proc.waitFor(
    (l) => l.msg === "state file unusable: reporting MAINT" && l.why === "SIGHUP",
  );
  assert.match(String(warn.reason), /not JSON/);
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited(), 0);
});

test("a missing state file at start means MAINT, with the reason logged", async () => {
  const { proc, port } = await startAgent([
    "--listen",
    "127.0.0.1:0",
    "--state-file",
    join(dir(), "none.json"),
  ]);
  cleanup.push(() => proc.kill());
  assert.equal(await askAgent(port), "maint\n");
  const l = await proc.waitFor((x) => x.msg === "state file unusable: reporting MAINT");
  assert.match(String(l.reason), /cannot read/);
});

test("environment variables configure it like hapgent; flags win", async () => {
  const d = dir();
  writeFileSync(join(d, "env.json"), '{"status":"UP"}');
  writeFileSync(join(d, "flag.json"), '{"status":"DRAIN"}');
  const { proc, port } = await startAgentEnv(
    { HAPGENT_IP: "127.0.0.1", HAPGENT_PORT: "0", HAPGENT_STATE_FILE: join(d, "env.json") },
    [],
  );
  cleanup.push(() => proc.kill());
  assert.equal(await askAgent(port), "up ready\n");
  const second = await startAgentEnv(
    { HAPGENT_IP: "127.0.0.1", HAPGENT_PORT: "0", HAPGENT_STATE_FILE: join(d, "env.json") },
    ["--state-file", join(d, "flag.json")],
  );
  cleanup.push(() => second.proc.kill());
  assert.equal(await askAgent(second.port), "up drain\n");
});

async function startAgentEnv(env: Record<string, string>, args: string[]) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await startAgent(args);
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
  }
}

test("`agent set` writes the file and tells the running agent", async () => {
  const d = dir();
  const f = join(d, "state.json");
  writeFileSync(f, '{"status":"UP","weight":20}');
  const { proc, port } = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f]);
  cleanup.push(() => proc.kill());
  const r = await runCli(["agent", "set", "drain", "--state-file", f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /agent \d+ told/);
  assert.equal(await untilReply(port, /drain/), "up drain 20%\n", "weight kept");
  const r2 = await runCli(["agent", "set", "UP", "--weight", "100", "--maxconn", "5", "--state-file", f]);
  assert.equal(r2.code, 0);
  assert.equal(await untilReply(port, /100%/), "up ready 100% maxconn:5\n");
  const bad = await runCli(["agent", "set", "SLEEPY", "--state-file", f]);
  assert.equal(bad.code, 2);
  const badW = await runCli(["agent", "set", "UP", "--weight", "300", "--state-file", f]);
  assert.equal(badW.code, 2);
  assert.match(badW.stderr, /--weight must be an integer from 0 to 255/);
  // Without a running agent the file is still written.
  const lone = join(d, "lone.json");
  const r3 = await runCli(["agent", "set", "MAINT", "--state-file", lone]);
  assert.equal(r3.code, 0);
  assert.match(r3.stdout, /no running agent/);
  assert.deepEqual(JSON.parse(readFileSync(lone, "utf8")), { status: "MAINT" });
});

test("a slow or hostile client never blocks another client's reply", async () => {
  const d = dir();
  const f = join(d, "state.json");
  writeFileSync(f, '{"status":"UP"}');
  const { proc, port } = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f]);
  cleanup.push(() => proc.kill());
  const hostile: Socket[] = [];
  for (let i = 0; i < 20; i++) {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    s.pause(); // never reads
    hostile.push(s);
  }
  const flood = connect({ host: "127.0.0.1", port });
  flood.on("error", () => {});
  flood.write(Buffer.alloc(4 * 1024 * 1024, 0x41));
  const t = Date.now();
  assert.equal(await askAgent(port), "up ready\n");
  assert.ok(Date.now() - t < 500, `answered in ${Date.now() - t}ms`);
  for (const s of hostile) s.destroy();
  flood.destroy();
});

test("--check reports DOWN while the command fails, and the saved state is untouched", async () => {
  const d = dir();
  const f = join(d, "state.json");
  const flag = join(d, "healthy");
  writeFileSync(f, '{"status":"UP","weight":40}');
  const { proc, port } = await startAgent([
    "--listen",
    "127.0.0.1:0",
    "--state-file",
    f,
    "--check",
    `test -e ${flag}`,
    "--check-interval",
    "100ms",
  ]);
  cleanup.push(() => proc.kill());
  assert.equal(await untilReply(port, /^down/), "down ready 40%\n");
  writeFileSync(flag, "");
  assert.equal(await untilReply(port, /^up/), "up ready 40%\n");
  assert.deepEqual(JSON.parse(readFileSync(f, "utf8")), { status: "UP", weight: 40 });
});

test("probeAgent (Trunkline's side) reads the agent; a reply without a line end is no information", async () => {
  const d = dir();
  const f = join(d, "state.json");
  writeFileSync(f, '{"status":"DRAIN","weight":50}');
  const { proc, port } = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f]);
  cleanup.push(() => proc.kill());
  const r = await probeAgent({ host: "127.0.0.1", port, send: "pool/s1\n", timeoutMs: 1000 });
  assert.ok(r.ok);
  assert.deepEqual(r.report, { errors: [], health: "up", admin: "drain", weightPercent: 50 });
  const { createServer } = await import("node:net");
  const bare = createServer((s) => s.end("down"));
  await new Promise<void>((res) => bare.listen(0, "127.0.0.1", () => res()));
  const r2 = await probeAgent({
    host: "127.0.0.1",
    port: (bare.address() as { port: number }).port,
    timeoutMs: 1000,
  });
  assert.equal(r2.ok, false);
  bare.close();
  const r3 = await probeAgent({ host: "127.0.0.1", port: 1, timeoutMs: 500 });
  assert.equal(r3.ok, false);
});

/** Resolves when the socket closes, or rejects after `ms`. */
function closedWithin(s: Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve(0);
    const t = setTimeout(() => reject(new Error(`socket still open after ${ms}ms`)), ms);
    s.once("close", () => {
      clearTimeout(t);
      resolve(Date.now() - t0);
    });
  });
}

async function inProcessAgent(opts: ConstructorParameters<typeof AgentServer>[3]) {
  const agent = new AgentServer({ host: "127.0.0.1", port: 0 }, { status: "UP" }, silentLog, opts);
  await agent.start();
  cleanup.push(() => void agent.close());
  return { agent, port: agent.address!.port };
}

test("a client that trickles bytes is cut at the connection deadline, one that floods at the byte bound", async () => {
  const { port } = await inProcessAgent({ clientTimeoutMs: 300, maxBytesPerClient: 4096 });
  // Half-open allowed, so our end of the exchange does not close its side.
  const trickle = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  trickle.on("error", () => {});
  let reply = "";
  trickle.on("data", (d) => {
    reply += d;
  });
  // A byte every 50 ms would reset an idle timeout forever; the deadline is absolute.
  const drip = setInterval(() => trickle.writable && trickle.write("x"), 50);
  try {
    const took = await closedWithin(trickle, 2000);
    assert.ok(took >= 250, `closed after ${took}ms, before the deadline`);
  } finally {
    clearInterval(drip);
  }
  assert.equal(reply, "up ready\n");

  const { agent: a2, port: port2 } = await inProcessAgent({ clientTimeoutMs: 5000, maxBytesPerClient: 4096 });
  const flood = connect({ host: "127.0.0.1", port: port2 });
  cleanup.push(() => flood.destroy());
  flood.on("error", () => {});
  flood.write(Buffer.alloc(1024 * 1024, 0x41));
  // Seen from the agent: a paused client cannot tell that its peer went away.
  const t0 = Date.now();
  while (a2.connections === 0 && Date.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 10));
  while (a2.connections > 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(a2.connections, 0, `flooding client still connected after ${Date.now() - t0}ms`);
});

test("one host holding many idle connections cannot take the slots of another", async () => {
  const { port } = await inProcessAgent({ clientTimeoutMs: 5000, maxClients: 8, maxClientsPerAddress: 3 });
  const hostile: Socket[] = [];
  for (let i = 0; i < 12; i++) {
    // 127.0.0.2 is loopback too: a second source address without leaving the machine.
    const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
    s.on("error", () => {});
    s.pause();
    hostile.push(s);
  }
  cleanup.push(() => {
    for (const s of hostile) s.destroy();
  });
  await Promise.all(hostile.map((s) => new Promise((r) => (s.connecting ? s.once("connect", r) : r(null)))));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await askAgent(port), "up ready\n");
});

test("a failing check turns UP into DOWN but leaves MAINT alone", async () => {
  const agent = new AgentServer({ host: "127.0.0.1", port: 0 }, { status: "UP", weight: 10 }, silentLog);
  agent.setOverride("check command exited with 1");
  assert.deepEqual(agent.reported, { status: "DOWN", weight: 10 });
  agent.setState({ status: "MAINT" }, "test");
  assert.deepEqual(agent.reported, { status: "MAINT" });
  agent.setOverride(undefined);
  agent.setState({ status: "DRAIN" }, "test");
  assert.deepEqual(agent.reported, { status: "DRAIN" });
});

test("a check that outlives its timeout is killed with everything it started", async () => {
  const d = dir();
  const pidFile = join(d, "bg.pid");
  const changes: (string | undefined)[] = [];
  // 1.5 s: the shell must have started its child and written the pid by then (a CI run with
  // two CPU hogs had not, at 300 ms).
  const runner = new CheckRunner(`sleep 30 & echo $! > ${pidFile}; wait`, 5000, 1500, (f) => changes.push(f));
  cleanup.push(() => runner.stop());
  runner.start();
  const end = Date.now() + 10_000;
  while (changes.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  runner.stop();
  assert.match(String(changes[0]), /did not finish within 1500ms/);
  const bg = Number(readFileSync(pidFile, "utf8").trim());
  assert.ok(bg > 0);
  // Dead or a zombie: in a container, PID 1 may never reap the orphan.
  const running = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${bg}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  let alive = running();
  for (let i = 0; i < 50 && alive; i++) {
    await new Promise((r) => setTimeout(r, 20));
    alive = running();
  }
  assert.equal(alive, false, "the command's background child was killed too");
});

test("`agent set` does not signal a process that is not an agent (stale pid file)", async () => {
  const d = dir();
  const f = join(d, "state.json");
  const bystander = spawn("sleep", ["30"], { stdio: "ignore" });
  cleanup.push(() => bystander.kill("SIGKILL"));
  writeFileSync(`${f}.pid`, `${bystander.pid}\n`);
  const r = await runCli(["agent", "set", "UP", "--state-file", f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /not an agent/);
  assert.deepEqual(JSON.parse(readFileSync(f, "utf8")), { status: "UP" });
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(bystander.exitCode, null);
  assert.equal(bystander.signalCode, null, "SIGHUP would have ended it");
});

test("`agent set` does not signal another program with 'agent' in its command line (ssh-agent, gpg-agent)", async () => {
  const d = dir();
  const f = join(d, "state.json");
  // A process whose command line holds the word "agent" but is no Trunkline: `node -e … agent`.
  const bystander = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "agent"], {
    stdio: "ignore",
  });
  cleanup.push(() => bystander.kill("SIGKILL"));
  writeFileSync(`${f}.pid`, `${bystander.pid}\n`);
  const r = await runCli(["agent", "set", "UP", "--state-file", f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /not an agent/);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(bystander.signalCode, null, "SIGHUP would have ended it");
});
