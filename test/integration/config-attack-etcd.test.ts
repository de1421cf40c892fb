/**
 * Hostile content in etcd (a real etcd from Debian): a bad key is one bad key, reported
 * with its key and reason, and the rest applies, in bounded time.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { get, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.close();
});

// A defect found by attacking the proxy, fixed: gogeta.ts locationOf takes any non-empty host string, so one instance with a hostile host makes the service's whole pool fail the schema: the service loses its route although its other instance is fine (and the reason names /services/svc, not the instance's key).
test("gogeta: one instance whose location has a hostile host string is one bad key; the service's good instance still serves", {
  timeout: 30_000,
}, async (t) => {
  const good = await startOrigin(t, "good");
  await etcd.put("/domains/app.example.com/type", "service");
  await etcd.put("/domains/app.example.com/value", "svc");
  await etcd.put("/services/svc/1/location", JSON.stringify({ host: "127.0.0.1", port: good.port }));
  await etcd.put(
    "/services/svc/2/location",
    JSON.stringify({ host: "evil host\r\nX-Injected: 1", port: good.port }),
  );
  const p = await startProxy(
    `
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /tl/, cache: cache.json, gogeta: { domains: /domains, services: /services } }
`,
    { watch: true },
  );
  t.after(() => p.close());
  const invalid = p.proxy.source.view().invalid_keys;
  const r = await get(p.port("web"), "/x", { host: "app.example.com", timeoutMs: 5_000 });
  assert.equal(r.status, 200, `answered ${r.status}; invalid keys: ${JSON.stringify(invalid)}`);
  assert.equal(r.headers["x-origin"], "good");
  assert.ok(
    invalid.some((k) => k.key.startsWith("/services/svc/2")),
    `the hostile instance's key is named: ${JSON.stringify(invalid)}`,
  );
});

// Passes: no existing test has etcd content this large or odd.
test("10,000 route keys, a 1.4 MB value, invalid JSON and YAML, a key with control and non-UTF-8 bytes: the proxy starts in bounded time, each bad key reported, the rest applied", {
  timeout: 60_000,
}, async (t) => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  t.after(() => up.close());
  const prefix = "/many/";
  const N = 10_000;
  const route = JSON.stringify({ listener: "agi", match: { path: "^/never$" }, pool: "filepool" });
  for (let i = 0; i < N; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, N - i) }, (_, j) =>
        etcd.put(`${prefix}routes/r${String(i + j).padStart(5, "0")}`, route),
      ),
    );
  }
  await etcd.put(`${prefix}routes/zz-big`, `"${"x".repeat(1_400_000)}"`);
  await etcd.put(`${prefix}routes/zz-json`, '{"listener": "agi", "pool": ');
  await etcd.put(`${prefix}routes/zz-yaml`, "listener: [agi\n  pool: : :");
  await etcd.client.put(Buffer.from(`${prefix}routes/zz-\u0001\u001b[2J-`)).value(Buffer.from(route));
  await etcd.client
    .put(Buffer.concat([Buffer.from(`${prefix}routes/zz-`), Buffer.from([0xff, 0xfe])]))
    .value(Buffer.from(route));
  await etcd.put(
    `${prefix}routes/zzz-last`,
    JSON.stringify({ listener: "agi", match: { path: "^/last$" }, pool: "filepool" }),
  );
  const t0 = Date.now();
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools: { filepool: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: cache.json }
`,
    { watch: true },
  );
  t.after(() => p.close());
  const ms = Date.now() - t0;
  assert.ok(ms < 15_000, `started in ${ms} ms`);
  const invalid = p.proxy.source.view().invalid_keys.map((k) => k.key);
  for (const k of ["zz-big", "zz-json", "zz-yaml"])
    assert.ok(
      invalid.includes(`${prefix}routes/${k}`),
      `${k} reported: ${JSON.stringify(invalid).slice(0, 500)}`,
    );
  const names = p.proxy.snapshot.routes.map((r) => r.name);
  assert.ok(names.includes("zzz-last"));
  assert.ok(names.length >= N + 1, `${names.length} routes`);
  const { agiCall } = await import("../helpers/asterisk.ts");
  const s = await agiCall({ port: p.port(), url: "agi://x/last", timeoutMs: 5_000 });
  assert.equal(s.status, "SUCCESS");
});
