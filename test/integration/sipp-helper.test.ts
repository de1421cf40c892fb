// test/helpers/sipp.ts itself: a SIPp run that outlives its timeout is killed and says so.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freeUdpPort, runSipp } from "../helpers/sipp.ts";

test("a SIPp caller with nobody answering is killed at its timeout, with its counts so far", {
  timeout: 10_000,
}, async () => {
  // Nobody listens on `remote`: the INVITE is retransmitted for 32 s (Timer B), far past 1.5 s.
  const res = await runSipp({
    scenario: "uac",
    remote: { host: "127.0.0.1", port: await freeUdpPort() },
    localPort: await freeUdpPort(),
    calls: 1,
    timeoutMs: 1_500,
  });
  assert.equal(res.timedOut, true);
  assert.equal(res.signal, "SIGKILL");
  assert.equal(res.successful, 0);
  assert.ok(res.ms >= 1_500 && res.ms < 5_000, `${res.ms} ms`);
});
