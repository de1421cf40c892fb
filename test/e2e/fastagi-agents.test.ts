import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startAgent } from "../helpers/agent.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { runCli } from "../helpers/cli.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("servers running `trunkline agent`: a drained server keeps its open session but gets no new ones; 50% halves its share", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tl-fa-"));
  const fa = join(dir, "a.json");
  const fb = join(dir, "b.json");
  writeFileSync(fa, '{"status":"UP"}');
  writeFileSync(fb, '{"status":"UP"}');
  // One agent port, two loopback addresses: as on two app servers.
  const agentPort = await freePort();
  const agA = await startAgent(["--listen", `127.0.0.1:${agentPort}`, "--state-file", fa]);
  const agB = await startAgent(["--listen", `127.0.0.2:${agentPort}`, "--state-file", fb]);
  cleanup.push(
    () => agA.proc.kill(),
    () => agB.proc.kill(),
  );
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 1500 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: ivr } ]
pools:
  ivr:
    balance: round-robin
    health: { interval: 100ms, timeout: 500ms, checks: [ { agent: ${agentPort}, send: "ivr\\n" } ] }
    servers:
      - { address: 127.0.0.1:${a.port}, weight: 100 }
      - { address: 127.0.0.1:${b.port}, weight: 100, agent_addr: 127.0.0.2 }
`);
  cleanup.push(p.close);
  const [sa, sb] = p.proxy.runtime.generation.pools.get("ivr")!.servers;

  // A long session lands on a (round robin starts there).
  const open = agiCall({ port: p.port(), url: "agi://x/ivr", timeoutMs: 6000 });
  await until(() => a.stats.active === 1, 2000, "open session on a");

  assert.equal((await runCli(["agent", "set", "DRAIN", "--state-file", fa])).code, 0);
  await p.waitForLog((l) => l.event === "server_state" && l.what === "admin" && l.to === "drain");
  for (let i = 0; i < 6; i++)
    assert.equal((await agiCall({ port: p.port(), url: "agi://x/ivr" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 1, "no new session on the drained server");
  assert.equal(b.stats.sessions, 6);
  const r = await open;
  assert.equal(r.status, "SUCCESS", "the open session on the drained server carried on");
  assert.deepEqual(r.commands, ["NOOP"]);

  // Back, at 50%: a gets one session in three (weights 50:100).
  assert.equal((await runCli(["agent", "set", "UP", "--weight", "50", "--state-file", fa])).code, 0);
  await until(() => sa!.admin === "ready" && sa!.weight === 50, 3000, "a ready at 50%");
  assert.equal(sb!.weight, 100);
  const before = { a: a.stats.sessions, b: b.stats.sessions };
  const runs = [];
  for (let i = 0; i < 30; i++) runs.push(agiCall({ port: p.port(), url: "agi://x/ivr", timeoutMs: 8000 }));
  const results = await Promise.all(runs);
  assert.ok(results.every((x) => x.status === "SUCCESS"));
  const shareA = a.stats.sessions - before.a;
  const shareB = b.stats.sessions - before.b;
  assert.equal(shareA + shareB, 30);
  // Smooth weighted round robin carries its scores over from the sessions before: ±1.
  assert.ok(shareA >= 9 && shareA <= 11, `a got ${shareA} of 30 at 50% weight (b: ${shareB})`);
});
