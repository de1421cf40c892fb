import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { refusedPort } from "../helpers/blackhole.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A fake agent that answers whatever `reply.text` says now (or nothing when undefined). */
async function fakeAgent(
  host: string,
  fixedPort = 0,
): Promise<{ port: number; reply: { text: string | undefined }; hits: number; close(): Promise<void> }> {
  const state = { reply: { text: "up\n" as string | undefined }, hits: 0 };
  const socks = new Set<import("node:net").Socket>();
  const srv: Server = createServer((s) => {
    socks.add(s);
    s.on("close", () => socks.delete(s));
    state.hits++;
    s.on("error", () => {});
    if (state.reply.text !== undefined) s.end(state.reply.text);
    else s.destroy();
  });
  await new Promise<void>((r) => srv.listen(fixedPort, host, () => r()));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    get reply() {
      return state.reply;
    },
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise((r) => {
        srv.close(() => r());
        for (const s of socks) s.destroy();
      }),
  };
}

test("tcp checks: a dead server goes down after `fall` failures, gets no sessions, comes back after `rise`", async () => {
  const a = await startAgiServer({ commands: ["NOOP"] });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(b.close);
  const aPort = a.port;
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    health: { interval: 100ms, timeout: 200ms, rise: 2, fall: 2, checks: [ tcp ] }
    servers: [ { address: 127.0.0.1:${aPort} }, { address: 127.0.0.1:${b.port} } ]
`);
  cleanup.push(p.close);
  await a.close();
  const down = await p.waitForLog(
    (l) => l.event === "server_state" && l.what === "health" && l.to === "down",
    3000,
  );
  assert.match(String(down.reason), /ECONNREFUSED/);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  const s = await p.session(0);
  assert.equal(s.server, `127.0.0.1:${b.port}`);
  assert.equal(s.failed_attempts, undefined, "the down server was not even tried");
  // Bring it back on the same port.
  const again = await startAgiServerOn(aPort);
  cleanup.push(again.close);
  await p.waitForLog((l) => l.event === "server_state" && l.what === "health" && l.to === "up", 3000);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  assert.equal((await p.session(1)).server, `127.0.0.1:${aPort}`);
});

async function startAgiServerOn(port: number) {
  for (let i = 0; i < 50; i++) {
    try {
      const socks = new Set<import("node:net").Socket>();
      const srv = createServer((s) => {
        socks.add(s);
        s.on("close", () => socks.delete(s));
        s.on("error", () => {});
        let buf = "";
        s.on("data", (d) => {
          buf += d;
          if (buf.includes("\n\n")) s.end("NOOP\n");
        });
      });
      await new Promise<void>((res, rej) => {
        srv.once("error", rej);
        srv.listen(port, "127.0.0.1", () => res());
      });
      return {
        close: () =>
          new Promise<void>((r) => {
            srv.close(() => r());
            for (const s of socks) s.destroy();
          }),
      };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`port ${port} stayed busy`);
}

test("agent replies act as HAProxy's: drain, maint, NN%, maxconn, down with description; unreachable is no information", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 100 });
  const b = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 100 });
  cleanup.push(a.close, b.close);
  const agentA = await fakeAgent("127.0.0.1");
  // Server b's agent lives at its agent_addr, on the same agent port; it closes without a
  // reply line, which is "no information" to HAProxy's rules.
  const agentB = await fakeAgent("127.0.0.3", agentA.port);
  agentB.reply.text = undefined;
  cleanup.push(agentA.close, agentB.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: round-robin
    health: { interval: 100ms, timeout: 300ms, checks: [ { agent: ${agentA.port}, send: "main\\n" } ] }
    servers:
      - { address: 127.0.0.1:${a.port}, weight: 100 }
      - { address: 127.0.0.1:${b.port}, weight: 100, agent_addr: 127.0.0.3 }
`);
  cleanup.push(p.close);
  const pool = () => p.proxy.runtime.generation.pools.get("main")!;
  const [sa, sb] = pool().servers;
  await until(() => agentA.hits >= 2, 2000, "agent polled");

  agentA.reply.text = "up 50%\n";
  await until(() => sa!.weight === 50, 2000, "weight 50");
  const logged = await p.waitForLog((l) => l.event === "server_state" && l.what === "weight");
  assert.equal(logged.to, "50");
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(
    p.logs.filter((l) => l.event === "server_state" && l.what === "weight").length,
    1,
    "a change is logged once, not at every poll",
  );

  agentA.reply.text = "drain\n";
  await until(() => sa!.admin === "drain", 2000, "drain");
  for (let i = 0; i < 4; i++)
    assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 0, "a drained server gets no new sessions");

  agentA.reply.text = "up ready 100% maxconn:1\n";
  await until(
    () => sa!.admin === "ready" && sa!.agentMaxconn === 1 && sa!.weight === 100,
    2000,
    "ready again",
  );

  agentA.reply.text = "down #maintenance window\n";
  const down = await p.waitForLog(
    (l) => l.event === "server_state" && l.what === "health" && l.to === "down",
  );
  assert.match(String(down.reason), /maintenance window/);
  assert.equal(sa!.canTake(Date.now()), false);

  // An agent that stops answering changes nothing: the DOWN outlives it.
  agentA.reply.text = undefined;
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(sa!.agentDown, "maintenance window");

  agentA.reply.text = "maint\n";
  await until(() => sa!.admin === "maint", 2000, "maint");
  agentA.reply.text = "up ready\n";
  await until(() => sa!.admin === "ready" && sa!.agentDown === undefined, 2000, "back");
  // Server b is probed at its agent_addr (127.0.0.3), whose agent never answers a line:
  // no information, so b stays up however often it is asked.
  await until(() => agentB.hits >= 2, 2000, "b's agent polled at its agent_addr");
  assert.equal(sb!.canTake(Date.now()), true);
  assert.equal(sb!.agentDown, undefined);
});

test("passive health: real sessions' connect failures count as failed checks", async () => {
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(b.close);
  const deadPort = await refusedPort();
  const agent = await fakeAgent("127.0.0.1");
  cleanup.push(agent.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    health: { interval: 10s, fall: 2, checks: [ { agent: ${agent.port} } ] }
    servers: [ { address: 127.0.0.1:${deadPort} }, { address: 127.0.0.1:${b.port} } ]
`);
  cleanup.push(p.close);
  for (let i = 0; i < 2; i++)
    assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
  const down = await p.waitForLog(
    (l) => l.event === "server_state" && l.what === "health" && l.to === "down",
  );
  assert.match(String(down.reason), /session connect failed/);
  await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal((await p.session(2)).failed_attempts, undefined);
});

test("removing a pool's health checks on reload forgets what they said", async () => {
  const a = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close);
  const agent = await fakeAgent("127.0.0.1");
  cleanup.push(agent.close);
  agent.reply.text = "drain 50%\n";
  const withChecks = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    health: { interval: 100ms, checks: [ { agent: ${agent.port} } ] }
    servers: [ { address: 127.0.0.1:${a.port}, weight: 10 } ]
`;
  const p = await startProxy(withChecks);
  cleanup.push(p.close);
  const s = p.proxy.runtime.generation.pools.get("main")!.servers[0]!;
  await until(() => s.admin === "drain" && s.weight === 5, 2000, "drained at 50%");
  p.writeConfig(withChecks.replace(/ {4}health: .*\n/, ""));
  assert.equal((await p.proxy.reload("test")).kind, "applied");
  assert.equal(s.admin, "ready");
  assert.equal(s.weight, 10);
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
});
