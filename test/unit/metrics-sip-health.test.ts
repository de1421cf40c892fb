import assert from "node:assert/strict";
import { test } from "node:test";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { createMetrics, type MetricsServer } from "../../src/observe/metrics.ts";
import { parsePromText, select, value } from "../helpers/prom-text.ts";

test("metrics: a server's reported load (ESL heartbeat) and sip-options probes are exported", async () => {
  const bus = new EventBus<TrunklineEvents>();
  const fs: MetricsServer = {
    key: "10.0.0.21:5060",
    admin: "ready",
    maxSessions: 0,
    active: 2,
    isUp: () => true,
    load: { sessionCount: 40, maxSessions: 1000, idleCpu: 97.5 },
    routedSinceReport: 3,
  };
  const plain: MetricsServer = {
    key: "10.0.0.22:5060",
    admin: "ready",
    maxSessions: 0,
    active: 0,
    isUp: () => true,
  };
  const m = createMetrics({
    events: bus,
    servers: () => [fs, plain],
    generation: () => undefined,
    listeners: () => [],
  });
  try {
    bus.emit("health.probe", {
      server: plain.key,
      pools: ["fs"],
      check: "sip-options",
      ok: false,
      durationMs: 2,
      reason: "sip-options: refused (ICMP port unreachable)",
    });
    const e = parsePromText(await m.text());
    const at = (figure: string) => value(e, "trunkline_server_reported_load", { server: fs.key, figure });
    assert.deepEqual(["sessions", "max_sessions", "idle_cpu", "routed_since"].map(at), [40, 1000, 97.5, 3]);
    assert.equal(
      select(e, "trunkline_server_reported_load", { server: plain.key }).length,
      0,
      "no report, no series",
    );
    assert.equal(
      value(e, "trunkline_health_probes_total", { server: plain.key, check: "sip-options", result: "fail" }),
      1,
    );
  } finally {
    m.close();
  }
});
