import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { freshBrowser } from "../helpers/chromium.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy } from "../helpers/proxy.ts";

// The page's functions run in Chromium; the tests compile without the DOM lib.
declare const document: {
  querySelector(s: string): { textContent: string | null; hidden?: boolean } | null;
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }>;
};

let etcd: TestEtcd;
const cleanup: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
});

/** A page in a headless Chromium, closed after the tests. */
async function openPage() {
  return (await freshBrowser(cleanup)).newPage();
}

test("the dashboard's Cluster card lists the proxies sharing etcd, the store's state and the ignored keys", async () => {
  await etcd.put("/dash/routes/broken", "listener: [");
  const yaml = (port: string) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:${port} }
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /dash/, cache: cache.json }
`;
  const one = await startProxy(yaml("0"));
  const two = await startProxy(yaml("0"));
  cleanup.push(one.close, two.close);

  const page = await openPage();
  await page.goto(`http://127.0.0.1:${one.proxy.adminAddress!.port}/`);
  await page.waitForFunction(() => document.querySelectorAll("#cluster-rows tr").length === 2, undefined, {
    timeout: 10_000,
  });
  const view = await page.evaluate(() => ({
    hidden: document.querySelector("#cluster")?.hidden,
    state: document.querySelector("#cluster-state")?.textContent,
    meta: document.querySelector("#cluster-meta")?.textContent,
    rows: Array.from(document.querySelectorAll("#cluster-rows tr")).map((r) => r.textContent),
    invalid: Array.from(document.querySelectorAll("#cluster-invalid li")).map((r) => r.textContent),
  }));
  assert.equal(view.hidden, false);
  assert.equal(view.state, "etcd up");
  assert.match(view.meta ?? "", new RegExp(`${etcd.endpoint} · /dash/ · revision \\d+`));
  assert.equal(view.rows.filter((r) => r?.includes("(this one)")).length, 1);
  assert.ok(view.rows.some((r) => r?.includes(String(process.pid))));
  assert.deepEqual(view.invalid.length, 1);
  assert.match(view.invalid[0] ?? "", /^etcd:\/dash\/routes\/broken \(root\): not YAML/);
});

test("a cluster of more proxies than one page: the card shows the page and says how many it leaves out", async () => {
  // 101 records beside the proxy's own (the way a proxy registers, without a lease).
  for (let i = 0; i < 101; i++) {
    const id = `fake-${String(i).padStart(3, "0")}`;
    await etcd.put(
      `/dash2/proxies/${id}`,
      JSON.stringify({
        id,
        hostname: "h",
        pid: 1,
        admin: null,
        revision: 1,
        digest: "d".repeat(64),
        started_at: 1,
      }),
    );
  }
  const one = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /dash2/, cache: cache2.json }
`);
  cleanup.push(one.close);
  const page = await openPage();
  await page.goto(`http://127.0.0.1:${one.proxy.adminAddress!.port}/`);
  await page.waitForFunction(() => document.querySelectorAll("#cluster-rows tr").length === 100, undefined, {
    timeout: 10_000,
  });
  // Before: 100 rows and nothing to say that 2 more were registered.
  await page.waitForFunction(() => document.querySelector("#cluster-more")?.hidden === false, undefined, {
    timeout: 10_000,
  });
  const more = await page.evaluate(() => document.querySelector("#cluster-more")?.textContent);
  assert.match(more ?? "", /^100 of 102 proxies shown; the rest: GET \/api\/v1\/cluster\?after=\S+$/);
});
