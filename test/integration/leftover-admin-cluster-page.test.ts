// GET /api/v1/cluster answers a page of the proxies registered in etcd, as /api/v1/sessions
// does: `limit` from 1 to 1000 (100 when not given), plus the total and the `next` id to ask
// `?after=` for, so a cluster of thousands of records (or a flood of fake ones written into
// the prefix) cannot make one answer as large as every record together.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AdminServer } from "../../src/observe/admin/server.ts";
import type { AdminModel, ClusterMemberView } from "../../src/observe/admin/types.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startProxy } from "../helpers/proxy.ts";

interface Page {
  id: string;
  total: number;
  proxies: ClusterMemberView[];
  next: string | null;
}

let etcd: TestEtcd;
const cleanup: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
});

async function get(base: string, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: r.status, body: await r.text() };
}

async function page(base: string, query = ""): Promise<Page> {
  const r = await get(base, `/api/v1/cluster${query}`);
  assert.equal(r.status, 200, r.body.slice(0, 300));
  return JSON.parse(r.body) as Page;
}

/** Every page from the first, following `next`: at most `bound` requests. */
async function walk(base: string, limit: number, bound: number): Promise<Page[]> {
  const pages: Page[] = [await page(base, `?limit=${limit}`)];
  for (let p = pages[0]; p?.next != null; p = pages.at(-1)) {
    assert.ok(pages.length < bound, `more than ${bound} pages`);
    pages.push(await page(base, `?limit=${limit}&after=${encodeURIComponent(p.next)}`));
  }
  return pages;
}

function member(id: string): ClusterMemberView {
  return {
    id,
    hostname: `host-${id}`,
    pid: 1,
    admin: null,
    revision: 1,
    digest: "d".repeat(64),
    started_at: "",
    self: false,
  };
}

test("the cluster handler: 100 proxies by default, at most 1000, the total, and pages that follow `next` to every proxy once, in order", async () => {
  const N = 2_500;
  // Out of order on purpose: the pages are in order of id all the same.
  const ids = Array.from({ length: N }, (_, i) => `p-${String((i * 7_919) % N).padStart(5, "0")}`);
  const model = {
    cluster: () => ({ id: "p-00042", proxies: ids.map(member) }),
  } as unknown as AdminModel;
  const srv = new AdminServer(
    { listen: { host: "127.0.0.1", port: 0 }, tokenFile: undefined, token: undefined },
    model,
  );
  await srv.start();
  cleanup.push(() => srv.close());
  const base = `http://127.0.0.1:${srv.address?.port}`;

  const first = await page(base);
  assert.equal(first.proxies.length, 100);
  assert.equal(first.total, N);
  assert.equal(first.id, "p-00042");
  assert.equal(first.proxies[0]?.id, "p-00000");
  assert.equal(first.next, "p-00099");

  const pages = await walk(base, 1_000, 10);
  assert.deepEqual(
    pages.map((p) => [p.proxies.length, p.next]),
    [
      [1_000, "p-00999"],
      [1_000, "p-01999"],
      [500, null],
    ],
  );
  const seen = pages.flatMap((p) => p.proxies.map((x) => x.id));
  assert.deepEqual(seen, [...ids].sort());

  // An exact last page says so; an `after` past the end is an empty last page.
  assert.equal((await page(base, "?limit=500&after=p-01999")).next, null);
  assert.deepEqual(await page(base, "?after=zzz"), { id: "p-00042", total: N, proxies: [], next: null });

  // The bounds and the message are the sessions list's.
  for (const bad of ["0", "1001", "1.5", "abc", ""]) {
    const r = await get(base, `/api/v1/cluster?limit=${bad}`);
    assert.equal(r.status, 400, `limit=${bad}`);
    assert.deepEqual(JSON.parse(r.body), {
      error: { code: "E_ADMIN_BAD_REQUEST", message: "limit is an integer from 1 to 1000" },
    });
  }
});

test("with etcd: 250 proxy records under the prefix come in pages of 100, this proxy among them once", async () => {
  const prefix = "/leftover-cluster/";
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0 }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:1 } ] } }
config:
  etcd: { endpoints: [ ${etcd.endpoint} ], prefix: ${prefix}, cache: etcd-cache.json }
`);
  cleanup.push(p.close);
  const base = `http://127.0.0.1:${p.proxy.adminAddress?.port}`;
  const FAKE = 250;
  for (let i = 0; i < FAKE; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        etcd.put(
          `${prefix}proxies/fake-${String(i + j).padStart(3, "0")}`,
          JSON.stringify({
            hostname: "x".repeat(200),
            pid: i + j,
            admin: null,
            revision: 1,
            digest: "",
            started_at: "",
          }),
        ),
      ),
    );
  // Polled, one request at a time, for at most 10 s: the records reach the proxy by its watch.
  const end = Date.now() + 10_000;
  const count = async () => {
    const r = await page(base, "?limit=1");
    return r.total ?? r.proxies.length; // the old answer had no total (and no limit)
  };
  for (let total = 0; total !== FAKE + 1; total = await count()) {
    assert.ok(Date.now() < end, `${total} of ${FAKE + 1} records in the cluster view after 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const first = await get(base, "/api/v1/cluster");
  const one = JSON.parse(first.body) as Page;
  assert.equal(one.proxies.length, 100);
  assert.equal(one.total, FAKE + 1);
  assert.ok(first.body.length < 40_000, `${first.body.length} bytes for the first page`);

  const pages = await walk(base, 100, 10);
  assert.deepEqual(
    pages.map((x) => x.proxies.length),
    [100, 100, 51],
  );
  const all = pages.flatMap((x) => x.proxies);
  assert.equal(new Set(all.map((x) => x.id)).size, FAKE + 1);
  const self = all.filter((x) => x.self);
  assert.equal(self.length, 1);
  assert.equal(self[0]?.id, one.id);
});
