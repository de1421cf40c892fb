/**
 * Hostile FastAGI servers behind TLS: ones that accept the TCP connection and never say a
 * word of the handshake. Each try must cost connect_timeout, the search total_timeout, and
 * no socket may be left open toward them.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Accepts, reads and drops everything, never answers (a TLS handshake that never completes). */
async function startMute(): Promise<{
  port: number;
  open: () => number;
  accepted: () => number;
  close(): Promise<void>;
}> {
  const socks = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    socks.add(s);
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => socks.size,
    accepted: () => accepted,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

test("TLS servers that accept and never handshake: each try ends at connect_timeout, the search at total_timeout, FAILURE, no socket left", async () => {
  const mutes = await Promise.all([startMute(), startMute(), startMute()]);
  for (const m of mutes) cleanup.push(m.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    connect_timeout: 300ms
    total_timeout: 700ms
    servers:
${mutes.map((m) => `      - { address: 127.0.0.1:${m.port}, tls: true }`).join("\n")}
`);
  cleanup.push(p.close);
  const t0 = Date.now();
  const r = await agiCall({ port: p.port(), url: "agi://pbx/x", timeoutMs: 5000 });
  const ms = Date.now() - t0;
  assert.equal(r.status, "FAILURE");
  assert.ok(ms >= 650 && ms < 2500, `FAILURE after ${ms}ms`);
  const s = await p.session(0);
  assert.equal(s.outcome, "failure_no_server");
  const attempts = s.failed_attempts as { code: string }[];
  assert.ok(attempts.length >= 2 && attempts.length <= 3, JSON.stringify(s));
  assert.ok(
    attempts.every((a) => a.code === "E_CONNECT_TIMEOUT"),
    JSON.stringify(attempts),
  );
  assert.equal(mutes[0]!.accepted() + mutes[1]!.accepted() + mutes[2]!.accepted(), attempts.length);
  await until(() => mutes.every((m) => m.open() === 0), 2000, "every connection to the mute servers closed");
});
