// A reload that one worker thread rejects after the main thread has bound its part: the main
// thread's new listener is closed again (abort), and every thread runs the old config on.
// The worker is made to reject by handing it other text than the main thread validated: its
// digest check fails, as it would if a file changed between the two reads.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { Runtime } from "../../src/app/runtime.ts";
import { ListenerThreads } from "../../src/app/workers/threads.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { RawSource } from "../../src/config/providers/types.ts";
import type { Snapshot } from "../../src/config/types.ts";
import { EventBus } from "../../src/events/bus.ts";
import type { TrunklineEvents } from "../../src/events/types.ts";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { PROTOCOLS } from "../../src/protocols/registry.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

function yaml(upstream: number, listeners: string): string {
  return `workers: 2
listeners:
${listeners}
routes:
  - { listener: agi, pool: p }
pools:
  p: { servers: [ { address: 127.0.0.1:${upstream} } ] }
`;
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });

test("a reload a worker rejects after the main thread bound its part: aborted in every thread", {
  timeout: 30_000,
}, async (t) => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  t.after(() => up.close());
  const [p1, p2] = [await freePort(), await freePort()];
  const agi = `  - { name: agi, protocol: fastagi, listen: 127.0.0.1:${p1} }`;
  const text1 = yaml(up.port, agi);
  const text2 = yaml(up.port, `${agi}\n  - { name: agi2, protocol: fastagi, listen: 127.0.0.1:${p2} }`);
  const raws = new WeakMap<Snapshot, RawSource>();
  const s1 = parseConfig(text1, "/x/t.yaml", PROTOCOLS);
  const s2 = parseConfig(text2, "/x/t.yaml", PROTOCOLS);
  raws.set(s1, { text: text1, origin: "/x/t.yaml" });
  // The worker gets the old text for the new snapshot: its digest is not the main thread's.
  raws.set(s2, { text: text1, origin: "/x/t.yaml" });
  const events = new EventBus<TrunklineEvents>();
  const threads = new ListenerThreads(s1, events, raws);
  const runtime = new Runtime(events, threads.runtimeOptions);
  t.after(async () => {
    await threads.close();
    await runtime.close();
  });
  await runtime.start(s1);
  await threads.start(runtime, s1);
  const err = await threads.apply(runtime, s2);
  if (!reusePortSupported()) {
    // One thread: nothing to disagree with, the reload applies (the Node 20 path).
    assert.equal(threads.threads, 1);
    assert.equal(err, undefined);
    return;
  }
  assert.ok(err, "rejected");
  assert.match(err.message, /worker 1: the config changed between the main thread's read and this one's/);
  assert.equal(runtime.generation.snapshot, s1, "the main thread runs the old config");
  assert.equal(runtime.listener("agi2"), undefined);
  assert.equal(await refused(p2), true, "the main thread's new listener was closed again");
  // Sessions until both threads took some (the kernel spreads connections by their ports:
  // 10 in a row once all went to one thread), each of them a success.
  for (let i = 0; i < 200 && !threads.view().every((v) => v.started > 0); i++)
    assert.equal((await agiCall({ port: p1, url: "agi://x/y" })).status, "SUCCESS");
  assert.ok(
    threads.view().every((v) => v.alive && v.started > 0),
    JSON.stringify(threads.view()),
  );
});
