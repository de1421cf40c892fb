import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { HealthConfig } from "../../src/config/types.ts";
import { healthRig, poolConfig, waitFor } from "../helpers/sip-pool.ts";
import { freeUdpPort, startSipp } from "../helpers/sipp.ts";

const health: HealthConfig = {
  intervalMs: 100,
  timeoutMs: 500,
  rise: 2,
  fall: 2,
  checks: [{ kind: "sip-options", transport: "udp" }],
};

test("sip-options checks against a real SIPp (`-sn uas -aa`): it answers our OPTIONS; killed, it is refused and goes down", async () => {
  const port = await freeUdpPort();
  const sipp = startSipp({ scenario: "uas", localPort: port, timeoutMs: 60_000, extraArgs: ["-aa"] });
  after(() => sipp.kill());
  const rig = healthRig([poolConfig([{ port }], { health })]);
  const e = rig.registry.get(`127.0.0.1:${port}`)!;
  const probes: { ok: boolean; reason: string }[] = [];
  rig.events.on("health.probe", (p) => probes.push({ ok: p.ok, reason: p.reason }));
  // SIPp prints nothing when its socket is bound: the first answered ping is the sign.
  await waitFor(() => probes.some((p) => p.ok), "SIPp answered a ping", 10_000);
  assert.equal(probes.find((p) => p.ok)?.reason, "sip-options: answered 200");
  await waitFor(() => probes.filter((p) => p.ok).length >= 3, "three answered pings", 10_000);
  assert.equal(e.health, "up");

  const r = await sipp.kill();
  assert.equal(r.signal, "SIGKILL");
  await waitFor(() => e.health === "down", "down after SIPp died", 10_000);
  assert.equal(e.healthReason, "sip-options: refused (ICMP port unreachable)");
});
