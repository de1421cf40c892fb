import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { after, test } from "node:test";
import type { HealthConfig } from "../../src/config/types.ts";
import { startOptionsResponder } from "../helpers/sip-options-responder.ts";
import { healthRig, poolConfig, waitFor } from "../helpers/sip-pool.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const health: HealthConfig = {
  intervalMs: 50,
  timeoutMs: 300,
  rise: 2,
  fall: 3,
  checks: [{ kind: "sip-options", transport: "udp" }],
};

test("sip-options checks: a server that stops answering goes down after `fall` pings, gets no call, and is back after `rise`", async () => {
  const a = await startOptionsResponder(200);
  const b = await startOptionsResponder(200);
  cleanup.push(a.close, b.close);
  const rig = healthRig([poolConfig([{ port: a.port }, { port: b.port }], { health })]);
  const sa = rig.registry.get(`127.0.0.1:${a.port}`)!;
  const probes: { ok: boolean; reason: string }[] = [];
  rig.events.on("health.probe", (p) => {
    if (p.server === sa.key) probes.push({ ok: p.ok, reason: p.reason });
  });
  await waitFor(() => probes.some((p) => p.ok), "first answered ping");
  assert.equal(probes[0]?.reason, "sip-options: answered 200");

  a.status = undefined; // silence
  const before = probes.length;
  await waitFor(() => sa.health === "down", "a down");
  const fails = probes.slice(before).filter((p) => !p.ok);
  assert.equal(fails.length, 3, "down on the third failed ping in a row, not before");
  assert.equal(sa.healthReason, "sip-options: no answer within 300ms");
  const picks = rig.take(4);
  assert.deepEqual(new Set(picks), new Set([`127.0.0.1:${b.port}`]), "only b takes calls");

  a.status = 404; // any answer is a live server
  const mark = probes.length;
  await waitFor(() => sa.health === "up", "a up again");
  assert.deepEqual(
    probes.slice(mark).map((p) => p.ok),
    [true, true],
    "up on the second answered ping",
  );
  assert.equal(sa.healthReason, "sip-options: answered 404");
});

test("sip-options checks: a closed port is refused, and the server is down within about fall × interval", async () => {
  const s = createSocket("udp4");
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  const port = s.address().port;
  s.close();
  const t0 = performance.now();
  const rig = healthRig([poolConfig([{ port }], { health })]);
  const e = rig.registry.get(`127.0.0.1:${port}`)!;
  await waitFor(() => e.health === "down", "closed port down");
  const ms = performance.now() - t0;
  assert.equal(e.healthReason, "sip-options: refused (ICMP port unreachable)");
  // 3 pings at 50 ms ±10%: ~150 ms; 3 timed-out pings would take more than 3 × (300 + 45) ms.
  assert.ok(ms < 1000, `down after ${Math.round(ms)}ms`);
});
