import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { eslTestKit, FAST_BACKOFF } from "../helpers/freeswitch-esl.ts";
import { healthRig, poolConfig, waitFor } from "../helpers/sip-pool.ts";

const kit = eslTestKit();

test("esl source: one connection per server across generations; a new password reconnects; esl removed closes it and clears its state", async () => {
  const fs = await kit.fake();
  const auths: string[] = [];
  fs.on("auth", (a) => auths.push(a.password));
  const subscribed = once(fs, "subscribed");
  const cfg = (esl?: { port: number; password?: string }, name = "fs") =>
    poolConfig([{ port: 5070, ...(esl ? { esl } : {}) }], { name });
  const rig = healthRig([cfg({ port: fs.port })], { backoff: FAST_BACKOFF });
  await subscribed;
  const e = rig.registry.get("127.0.0.1:5070")!;
  fs.heartbeat({ sessionCount: 3 });
  await waitFor(() => e.load?.sessionCount === 3, "report");

  // The same settings in a new generation, and in a second pool: the same one connection.
  rig.apply([cfg({ port: fs.port }), cfg({ port: fs.port }, "other")]);
  assert.equal(fs.sockets.size, 1);
  assert.deepEqual(auths, ["ClueCon"]);

  // A new password: the old connection goes, a new one authenticates with it.
  fs.password = "s3cret";
  const again = once(fs, "subscribed");
  rig.apply([cfg({ port: fs.port, password: "s3cret" })]);
  assert.equal(e.load, undefined, "the old connection's report no longer holds");
  await again;
  assert.deepEqual(auths, ["ClueCon", "s3cret"]);
  await waitFor(() => fs.sockets.size === 1, "old socket closed");

  // Wrong password in the config: down with the reason, then esl removed: up, no connection.
  rig.apply([cfg({ port: fs.port, password: "wrong" })]);
  await waitFor(() => e.eslDown !== undefined, "auth failed");
  assert.equal(e.eslDown, "esl: auth failed (-ERR invalid)");
  rig.apply([cfg()]);
  assert.equal(e.eslDown, undefined);
  assert.equal(rig.monitor.esl.state(e), undefined);
  await waitFor(() => fs.sockets.size === 0, "connection closed");
});

test("esl source: close() ends every connection; none comes back", async () => {
  const fs = await kit.fake();
  const subscribed = once(fs, "subscribed");
  const rig = healthRig([poolConfig([{ port: 5071, esl: { port: fs.port } }])], { backoff: FAST_BACKOFF });
  await subscribed;
  rig.monitor.close();
  await waitFor(() => fs.sockets.size === 0, "closed");
  const e = rig.registry.get("127.0.0.1:5071")!;
  assert.equal(rig.monitor.esl.state(e), undefined);
});
