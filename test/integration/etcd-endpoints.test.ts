// Several etcd endpoints, two of them dead: the client passes over the dead ones (a host that
// failed 3 calls in a row is skipped for 5 s) and every change reaches the proxy within a
// second, from its start on, whichever endpoint the client's shuffle tries first. Until the
// client has learnt the dead ones, a watch may go to one and fail: the mirror then retries at
// its shortest wait, not doubling it (without that, a change waited 1.6 s or more in 2 runs
// of 40).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { deadPort } from "../helpers/ports.ts";
import { startProxy, until } from "../helpers/proxy.ts";

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.close();
});

test("with a dead endpoint listed first and last, the live one serves: 10 changes each within 1 s", async (t) => {
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const prefix = "/ep/";
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
pools:
  filepool: { servers: [ { address: 127.0.0.1:1 } ] }
config:
  etcd: { endpoints: [ ${dead}, ${etcd.endpoint}, ${dead.replace("127.0.0.1", "127.0.0.2")} ], prefix: ${prefix}, cache: etcd-cache.json }
`,
    { watch: true },
  );
  t.after(p.close);
  const names = () => p.proxy.snapshot.routes.map((r) => r.name);
  const took: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    await etcd.put(`${prefix}routes/r${i}`, JSON.stringify({ listener: "agi", pool: "filepool" }));
    await until(() => names().includes(`r${i}`), 5_000, `route r${i} applied`);
    took.push(Date.now() - t0);
  }
  t.diagnostic(`applied in ${took.join(", ")} ms`);
  for (const ms of took) assert.ok(ms < 1_000, `a change took ${ms} ms: ${took.join(", ")}`);
  assert.equal(p.proxy.source.view().state, "up");
});
