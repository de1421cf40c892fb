// The dashboard in Chromium, fed strings that someone else chose: a record written into etcd
// by whoever can write there (no admin token needed), and the words of a server's agent.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import type { BrowserContext } from "playwright-core";
import { freshBrowser } from "../helpers/chromium.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy } from "../helpers/proxy.ts";

// The page's functions run in Chromium; the tests compile without the DOM lib.
declare const document: {
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }>;
  querySelector(s: string): { textContent: string | null } | null;
};
declare const window: Record<string, unknown>;

let etcd: TestEtcd;
const cleanup: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
});

const browser = (): Promise<BrowserContext> => freshBrowser(cleanup);

// DEFECT: a proxy record in etcd that repeats a proxy's id shows as one more row, and goes when its key is deleted — the Cluster card gains a row at every poll (1 s) and keeps them all after the key is gone: syncChildren() in src/observe/admin/dashboard/js-view.ts keeps only the last node per duplicate key and never removes the others
test("a fake proxy record reusing the real proxy's id neither multiplies the Cluster card's rows nor outlives its key", async () => {
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /dup/, cache: cache.json }
`);
  cleanup.push(p.close);
  const admin = `http://127.0.0.1:${p.proxy.adminAddress!.port}`;
  const cluster = async () =>
    (await (await fetch(`${admin}/api/v1/cluster`, { signal: AbortSignal.timeout(5000) })).json()) as {
      id: string;
      proxies: { id: string }[];
    };
  let id = "";
  const deadline = Date.now() + 10_000;
  while (id === "") {
    const c = await cluster();
    if (c.proxies.some((x) => x.id === c.id)) id = c.id;
    else if (Date.now() > deadline) throw new Error("the proxy never registered in etcd");
    else await new Promise((r) => setTimeout(r, 100));
  }

  const ctx = await browser();
  const page = await ctx.newPage();
  await page.goto(`${admin}/`);
  const rows = () => page.evaluate(() => document.querySelectorAll("#cluster-rows tr").length);
  // The page's polls of the cluster view, answered: "no more rows" is judged after some of them.
  let polls = 0;
  page.on("response", (r) => {
    if (r.url().includes("/api/v1/cluster")) polls++;
  });
  await page.waitForFunction(() => document.querySelectorAll("#cluster-rows tr").length === 1, undefined, {
    timeout: 10_000,
  });

  // Written by anyone with etcd access: the real proxy's id, another host.
  const fake = JSON.stringify({
    id,
    hostname: "impostor",
    pid: 1,
    admin: "http://127.0.0.1:1",
    revision: 1,
    digest: "0".repeat(64),
    started_at: new Date().toISOString(),
  });
  await etcd.put("/dup/proxies/zz-impostor", fake);
  await page.waitForFunction(() => document.querySelectorAll("#cluster-rows tr").length >= 2, undefined, {
    timeout: 10_000,
  });
  // Rows must not keep coming: three more polls of the page (one a second) are answered first.
  const after = polls;
  while (polls < after + 3)
    await page.waitForResponse((r) => r.url().includes("/api/v1/cluster"), { timeout: 5_000 });
  const seen = await rows();
  assert.ok(seen <= 2, `two records, ${seen} rows in the Cluster card after 3 more polls`);

  await etcd.del("/dup/proxies/zz-impostor");
  await page
    .waitForFunction(() => document.querySelectorAll("#cluster-rows tr").length === 1, undefined, {
      timeout: 5_000,
    })
    .catch(() => {});
  assert.equal(await rows(), 1, "the impostor's key is deleted: one proxy is left");
});

/** An agent that answers every poll with `reply` (HAProxy's agent-check: free text after `down`). */
async function agent(reply: string): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    s.end(reply);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

test("markup from an agent's down text, an etcd route's name and an etcd proxy record stays text: no script runs, no request leaves the page", async () => {
  // Any request the markup makes lands here (loopback, ours).
  let beacons = 0;
  const beacon = createServer((s) => {
    beacons++;
    s.on("error", () => {});
    s.destroy();
  });
  await new Promise<void>((r) => beacon.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => beacon.close(() => r())));
  const bport = (beacon.address() as { port: number }).port;
  const xss = (tag: string) =>
    `<img src="http://127.0.0.1:${bport}/${tag}" onerror="window.pwned='${tag}'"><script>window.pwned='${tag}s'</script>`;

  const ag = await agent(`down #${xss("agent")}\n`);
  cleanup.push(ag.close);
  await etcd.put(
    "/xss/routes/r1",
    JSON.stringify({ name: xss("route"), listener: "agi", match: { path: "^/x" }, pool: "p" }),
  );
  await etcd.put(
    "/xss/proxies/evil",
    JSON.stringify({ id: xss("id"), hostname: xss("host"), admin: xss("admin"), digest: xss("digest") }),
  );
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { listener: agi, pool: p } ]
pools:
  p:
    health: { interval: 100ms, timeout: 300ms, checks: [ { agent: ${ag.port} } ] }
    servers: [ { address: 127.0.0.1:1 } ]
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: /xss/, cache: cache.json }
`);
  cleanup.push(p.close);
  const ctx = await browser();
  const page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${p.proxy.adminAddress!.port}/`);
  const text = (sel: string) =>
    page.waitForFunction(
      ([s, want]) => (document.querySelector(s as string)?.textContent ?? "").includes(want as string),
      [sel, "onerror="],
      { timeout: 10_000 },
    );
  await text("#pools .c-why"); // the agent's words
  await text("#route-rows"); // the etcd route's name
  await text("#cluster-rows"); // the etcd record
  assert.match(
    (await page.evaluate(() => document.querySelector("#pools .c-why")?.textContent)) ?? "",
    /^agent: .*<img src=/,
  );
  assert.equal(await page.evaluate(() => window.pwned ?? null), null, "no handler or script ran");
  assert.equal(await page.locator("img, script:not([src])").count(), 0, "no value became an element");
  // One more poll and render of the page after the checks: still no request at the beacon.
  await page.waitForResponse((r) => r.url().includes("/api/v1/status"), { timeout: 5_000 });
  assert.equal(beacons, 0, "the page made no request to the beacon");
});
