// gogeta's layout read as-is from etcd and served through the HTTP listener: a request
// reaches the instance, round robin over two, `starting` answers 503 and the page, a request
// to a passivated service writes `started` into its instances' status/expected.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { get, startOrigin } from "../helpers/http-origin.ts";
import { startProxy, until } from "../helpers/proxy.ts";

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.close();
});

const started = { current: "started", expected: "started", alive: "1" };

async function instance(
  svc: string,
  i: number,
  port: number,
  status: { current: string; expected: string; alive?: string },
): Promise<void> {
  const base = `/services/${svc}/${i}`;
  await etcd.put(`${base}/location`, JSON.stringify({ host: "127.0.0.1", port }));
  await etcd.put(`${base}/status/current`, status.current);
  await etcd.put(`${base}/status/expected`, status.expected);
  if (status.alive !== undefined) await etcd.put(`${base}/status/alive`, status.alive);
  else await etcd.del(`${base}/status/alive`);
}

test("a gogeta deployment's keys, untouched, served through the HTTP listener", {
  timeout: 60_000,
}, async (t) => {
  const one = await startOrigin(t, "one");
  const two = await startOrigin(t, "two");
  await etcd.put("/domains/app.example.com/type", "service");
  await etcd.put("/domains/app.example.com/value", "app");
  await instance("app", 1, one.port, started);
  await instance("app", 2, two.port, started);
  const p = await startProxy(
    `
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /tl/, cache: cache.json, gogeta: { domains: /domains, services: /services } }
`,
    { watch: true },
  );
  t.after(() => p.close());
  assert.deepEqual(p.proxy.source.view().invalid_keys, []);
  const port = p.port("web");

  // Host with a port and a leading www., as gogeta matched it; round robin over both instances.
  const origins: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await get(port, "/x", { host: "www.app.example.com:8080" });
    assert.equal(r.status, 200);
    origins.push(r.headers["x-origin"] as string);
  }
  assert.deepEqual(origins.slice().sort(), ["one", "one", "two", "two"]);
  assert.notEqual(origins[0], origins[1]);
  assert.equal((await get(port, "/", { host: "unknown.example.com" })).status, 404);

  // Both starting: nothing routable, the starting page.
  await instance("app", 1, one.port, { current: "starting", expected: "started" });
  await instance("app", 2, two.port, { current: "starting", expected: "started" });
  await until(() => p.proxy.snapshot.pools.get("gogeta.app") === undefined, 3_000, "pool emptied");
  const s = await get(port, "/", { host: "app.example.com" });
  assert.equal(s.status, 503);
  assert.equal(s.headers["retry-after"], "5");
  assert.match(s.body, /<meta http-equiv="refresh" content="5">/);

  // Passivated: a request wakes it (expected := started), as gogeta did.
  await instance("app", 1, one.port, { current: "stopped", expected: "passivated" });
  await instance("app", 2, two.port, { current: "stopped", expected: "passivated" });
  await until(
    () => p.proxy.snapshot.routes.some((r) => (r as { status?: string }).status === "passivated"),
    3_000,
    "passivated route",
  );
  assert.equal((await get(port, "/", { host: "app.example.com" })).status, 503);
  const woken = async () =>
    (await etcd.client.get("/services/app/1/status/expected").string()) === "started" &&
    (await etcd.client.get("/services/app/2/status/expected").string()) === "started";
  const end = Date.now() + 5_000;
  while (!(await woken())) {
    assert.ok(Date.now() < end, "wake written within 5 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  await p.waitForLog((r) => r.event === "wake" && r.key === "/services/app/2/status/expected");
});
