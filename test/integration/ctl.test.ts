import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import type { StatusView } from "../../src/observe/admin/types.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { refusedPort } from "../helpers/blackhole.ts";
import { runCli } from "../helpers/cli.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const TOKEN = "s3cret-token-of-32-characters-xx";

/** A human table's rows, cells split on the two-space column gap (no cell holds two spaces). */
function rows(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((l) => l.split(/ {2,}/));
}

/** An HTTP port that accepts and never answers: ctl must give up on its own (5 s). */
async function silentPort(): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

test("trunkline ctl against a running proxy: tables and --json, drain/ready/weight with real sessions, reload, every exit code", async () => {
  const silent = await silentPort();
  cleanup.push(silent.close);
  // Started first: its 5 s bound runs while everything else does.
  const timedOut = runCli(["ctl", "--admin", `http://127.0.0.1:${silent.port}`, "status"]);

  // a holds every session it gets until it is closed; b answers and ends.
  const a = await startAgiServer({ commands: ["NOOP"], neverClose: true });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  // The servers' agent answers `up` to every poll: it must not undo an operator's drain.
  let agentPolls = 0;
  const agent = createServer((s) => {
    agentPolls++;
    s.on("error", () => {});
    s.end("up\n");
  });
  await new Promise<void>((r) => agent.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => agent.close(() => r())));
  const agentPort = (agent.address() as { port: number }).port;
  const cfg = (extra: string) => `
admin: { listen: 127.0.0.1:0, token_file: admin.token }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    health: { interval: 100ms, timeout: 300ms, checks: [ { agent: ${agentPort} } ] }
    servers: [ { address: 127.0.0.1:${a.port}, max_sessions: 10 }, { address: 127.0.0.1:${b.port} } ]
${extra}`;
  const p = await startProxy(cfg(""), { files: { "admin.token": `${TOKEN}\n` } });
  cleanup.push(p.close);
  const admin = `http://127.0.0.1:${p.proxy.adminAddress!.port}`;
  const tokenFile = join(p.dir, "admin.token");
  const wrongToken = join(p.dir, "wrong.token");
  writeFileSync(wrongToken, "wrong-token-wrong-token-wrong-to\n");
  const addrA = `127.0.0.1:${a.port}`;
  const addrB = `127.0.0.1:${b.port}`;
  const ctl = (...args: string[]) => runCli(["ctl", "--admin", admin, ...args]);
  const change = (...args: string[]) => ctl("--token-file", tokenFile, ...args);

  const held = agiCall({ port: p.port(), url: "agi://x/held", timeoutMs: 90_000 });
  await until(() => a.stats.active === 1, 3000, "a session held on a");
  // Its command has reached Asterisk: bytes have gone both ways.
  await until(
    () => (p.proxy.runtime.listener("agi")?.sessionsInfo(1)[0]?.bytesOut ?? 0) > 0,
    3000,
    "the held session relayed its command",
  );

  // Reads and the failures that change nothing, side by side: each spawn costs a tsx start.
  const refused = await refusedPort();
  const [status, statusJson, pools, sessions, notFound, unauthorized, unreachable, ...usage] =
    await Promise.all([
      runCli(["ctl", "status"], { env: { TRUNKLINE_ADMIN: admin } }),
      ctl("status", "--json"),
      ctl("pools"),
      ctl("sessions", "--limit", "5"),
      change("drain", "nope", addrA),
      ctl("--token-file", wrongToken, "drain", "main", addrA),
      runCli(["ctl", "--admin", `http://127.0.0.1:${refused}`, "status"]),
      ctl(),
      ctl("weight", "main", addrA, "heavy"),
      ctl("drain", "main"),
      ctl("sessions", "--limit", "many"),
    ]);

  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^pid: +${process.pid}$`, "m"));
  assert.match(status.stdout, /^generation: +1$/m);
  assert.match(status.stdout, /^last reload: +none since start$/m);
  const listeners = rows(status.stdout.slice(status.stdout.indexOf("LISTENER")));
  assert.deepEqual(listeners[0], ["LISTENER", "PROTOCOL", "LISTEN", "PORT", "TLS", "ACTIVE", "PENDING"]);
  assert.deepEqual(listeners[1], ["agi", "fastagi", "127.0.0.1:0", String(p.port()), "no", "1", "0"]);

  assert.equal(statusJson.code, 0, statusJson.stderr);
  assert.equal(statusJson.stdout.trimEnd().split("\n").length, 1, "one JSON document");
  const sj = JSON.parse(statusJson.stdout) as StatusView;
  assert.equal(sj.pid, process.pid);
  assert.equal(sj.generation, 1);
  assert.equal(sj.listeners[0]?.sessions_active, 1);

  assert.equal(pools.code, 0, pools.stderr);
  assert.deepEqual(rows(pools.stdout), [
    ["POOL", "ADDRESS", "STATE", "LAYER", "WEIGHT", "ACTIVE/MAX", "TOTAL", "FAILURES"],
    ["main", addrA, "up", "config", "1", "1/10", "1", "0"],
    ["main", addrB, "up", "config", "1", "0/-", "0", "0"],
  ]);

  assert.equal(sessions.code, 0, sessions.stderr);
  const sr = rows(sessions.stdout);
  assert.deepEqual(sr[0], ["CLIENT", "LISTENER", "REQUEST", "SERVER", "AGE", "BYTES(IN/OUT)"]);
  assert.equal(sr.length, 2, sessions.stdout);
  assert.match(sr[1]![0]!, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(sr[1]!.slice(1, 4), ["agi", "agi://x/held", addrA]);
  assert.match(sr[1]![5]!, /^[1-9]\d*\/[1-9]\d*$/, "bytes both ways");

  assert.equal(notFound.code, 1);
  assert.match(notFound.stderr, /E_ADMIN_NOT_FOUND: no pool named "nope"/);
  assert.equal(unauthorized.code, 1);
  assert.match(unauthorized.stderr, /E_ADMIN_UNAUTHORIZED/);
  assert.equal(unreachable.code, 3, unreachable.stderr);
  assert.match(unreachable.stderr, /cannot reach the admin API .*ECONNREFUSED/);
  for (const u of usage) {
    assert.equal(u.code, 2, u.stderr);
    assert.match(u.stderr, /usage: trunkline ctl/);
    assert.equal(u.stdout, "");
  }

  // Drain: the server says so, the pool shows it, and the next session goes to b.
  const drained = await change("drain", "main", addrA);
  assert.equal(drained.code, 0, drained.stderr);
  assert.deepEqual(rows(drained.stdout)[1], ["main", addrA, "drain", "operator", "1", "1/10", "1", "0"]);
  const [poolMain, next] = await Promise.all([
    ctl("pools", "main"),
    agiCall({ port: p.port(), url: "agi://x/next" }),
  ]);
  assert.equal(next.status, "SUCCESS");
  assert.equal(b.stats.sessions, 1, "the new session went to b");
  assert.equal(a.stats.sessions, 1, "the drained server got none");
  assert.deepEqual(rows(poolMain.stdout)[1]!.slice(0, 4), ["main", addrA, "drain", "operator"]);

  // The drain outlives the agent's `up` and a reload made through ctl.
  const polled = agentPolls;
  await until(() => agentPolls >= polled + 4, 3000, "the agent said up to both servers twice");
  p.writeConfig(cfg("shutdown_timeout: 5s"));
  const reloaded = await change("reload");
  assert.equal(reloaded.code, 0, reloaded.stderr);
  assert.equal(reloaded.stdout, "reload applied: generation 2\n");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/after" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 2, "still drained after the agent's up and a reload");
  assert.equal(a.stats.active, 1, "its open session carries on");

  const ready = await change("ready", "main", addrA);
  assert.equal(ready.code, 0, ready.stderr);
  assert.deepEqual(rows(ready.stdout)[1]!.slice(2, 4), ["up", "config"]);
  // The token file from the environment, and --json on a change: the server as the API gives it.
  const weighted = await runCli(["ctl", "--admin", admin, "--json", "weight", "main", addrB, "5"], {
    env: { TRUNKLINE_ADMIN_TOKEN_FILE: tokenFile },
  });
  assert.equal(weighted.code, 0, weighted.stderr);
  assert.equal((JSON.parse(weighted.stdout) as { weight: number }).weight, 5);
  const lifted = await change("weight", "main", addrB, "none");
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.equal(rows(lifted.stdout)[1]![4], "1");

  p.writeConfig(cfg("shutdown_timeout: 6s"));
  const reloadedAgain = await change("reload");
  assert.equal(reloadedAgain.code, 0, reloadedAgain.stderr);
  assert.equal(reloadedAgain.stdout, "reload applied: generation 3\n");
  p.writeConfig("listeners: [ { name: agi, protocol: nope } ]\n");
  const rejected = await change("reload");
  assert.equal(rejected.code, 1);
  assert.equal(rejected.stdout, "");
  assert.match(rejected.stderr, /E_ADMIN_RELOAD_REJECTED: the configuration was rejected\n/);
  assert.match(
    rejected.stderr,
    /\n {2}\S+trunkline\.yaml:1:\d+ listeners\[0\]\.protocol: .*unknown protocol/,
  );

  const t = await timedOut;
  assert.equal(t.code, 3, t.stderr);
  assert.match(t.stderr, /no answer within 5 s/);

  await a.close();
  assert.equal((await held).closedBy, "server", "the held session ended when a closed");
});
