/**
 * Live reloads against sessions that are mid-way: "Reloads never touch a session in flight",
 * and a listener leaving the config "stops accepting; its sessions run to their end".
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall, defaultHeader } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Connects, writes `first`, and hands back a way to write the rest and collect what comes back. */
async function openSplit(port: number, first: Buffer) {
  const sock = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  sock.on("error", () => {});
  let got = "";
  sock.on("data", (d) => {
    got += d.toString("latin1");
    // Act as Asterisk: answer every command.
    for (const line of d.toString("latin1").split("\n"))
      if (line !== "" && !/^failure/i.test(line)) sock.write("200 result=0\n");
  });
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  sock.on("end", () => sock.end("HANGUP\n"));
  await new Promise((r) => sock.once("connect", r));
  sock.write(first);
  return {
    finish: (rest: Buffer) => sock.write(rest),
    /** What the proxy sent, once it closed (bounded). */
    done: async (ms: number) => {
      const t = setTimeout(() => sock.destroy(), ms);
      await closed;
      clearTimeout(t);
      return got;
    },
  };
}

// Fixed (fastagi/index.ts routes with the generation the session was accepted in when the listener is gone): a listener leaving the config "stops accepting; its sessions run to their end" — a session it accepted whose header was still arriving is routed against the new config, which has no route for that listener: Asterisk gets FAILURE (failure_no_route), 1 of 1 such session dropped by the reload
test("a session mid-header on a listener that a reload removes is still served", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const both = `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
  - { name: old, protocol: fastagi, listen: 127.0.0.1:0 }
routes:
  - { listener: agi, pool: main }
  - { listener: old, pool: main }
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`;
  const p = await startProxy(both);
  cleanup.push(p.close);
  const oldPort = p.port("old");
  const header = defaultHeader({ url: "agi://pbx/mid-reload" });
  const half = Math.floor(header.length / 2);
  const s = await openSplit(oldPort, header.subarray(0, half));
  const listener = p.proxy.runtime.listener("old");
  await until(() => (listener?.pending ?? 0) === 1, 2000, "the session is in its header");
  p.writeConfig(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  assert.equal((await p.proxy.reload("listener removed")).kind, "applied");
  s.finish(header.subarray(half));
  const got = await s.done(5000);
  const log = await p.session(0);
  assert.deepEqual(
    { got, outcome: log.outcome, serverSessions: up.stats.sessions },
    { got: "NOOP\n", outcome: "completed", serverSessions: 1 },
    JSON.stringify(log),
  );
});

test("a session relaying through a listener that a reload removes runs to its end; the port is closed to new ones", async () => {
  const up = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 600 });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: old, protocol: fastagi, listen: 127.0.0.1:0 }, { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: old, pool: main }, { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const oldPort = p.port("old");
  const call = agiCall({ port: oldPort, url: "agi://pbx/long", timeoutMs: 5000 });
  await until(() => up.stats.sessions === 1, 2000, "the session reached the server");
  p.writeConfig(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  assert.equal((await p.proxy.reload("listener removed")).kind, "applied");
  const r = await call;
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP", "NOOP"]);
  const refused = await agiCall({ port: oldPort, url: "agi://pbx/new", timeoutMs: 3000 });
  assert.equal(refused.status, "FAILURE");
  await until(() => p.proxy.runtime.activeSessions === 0, 2000, "no session left");
});
