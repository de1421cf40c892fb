import assert from "node:assert/strict";
import { test } from "node:test";
import type { Log } from "../../src/core/types.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { attachLogging } from "../../src/observe/events.ts";

test("logs: an event socket up is info, lost is warn with the retry delay, a failed retry is debug", () => {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at =
    (level: string) =>
    (fields: unknown, msg?: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, msg: msg ?? "" });
    };
  const log = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => log,
  } as unknown as Log;
  const bus = new EventBus<TrunklineEvents>();
  const off = attachLogging(bus, log);
  const base = { server: "10.0.0.21:5060", pools: ["fs"] };
  bus.emit("esl.state", { ...base, state: "up", reason: "connected to 10.0.0.21:8021", wasUp: false });
  bus.emit("esl.state", {
    ...base,
    state: "down",
    reason: "esl: no heartbeat for 60s",
    wasUp: true,
    retryInMs: 150,
  });
  bus.emit("esl.state", {
    ...base,
    state: "down",
    reason: "esl: connect failed (ECONNREFUSED)",
    wasUp: false,
    retryInMs: 255,
  });
  off();
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.fields.reason, l.fields.retry_in_ms]),
    [
      ["info", "event socket of 10.0.0.21:5060 is up", "connected to 10.0.0.21:8021", undefined],
      ["warn", "event socket of 10.0.0.21:5060 is down", "esl: no heartbeat for 60s", 150],
      ["debug", "event socket of 10.0.0.21:5060: attempt failed", "esl: connect failed (ECONNREFUSED)", 255],
    ],
  );
  assert.deepEqual(
    { event: lines[0]?.fields.event, pool: lines[0]?.fields.pool, state: lines[1]?.fields.state },
    { event: "esl", pool: "fs", state: "down" },
  );
});
