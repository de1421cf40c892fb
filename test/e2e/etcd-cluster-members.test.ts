// Two real `trunkline run` processes sharing one real etcd, as members of a cluster: each one's
// registration record lives under a lease (and a crashed member leaves when that lease ends),
// each record carries the config revision its proxy runs (API and dashboard), operator changes
// from `trunkline ctl` reach the other member through etcd, and an HTTP route put into etcd
// answers through both members' http listeners within the issue's 1 s.
import assert from "node:assert/strict";
import { after, before, type TestContext, test } from "node:test";
import { LEASE_TTL_S } from "../../src/app/cluster.ts";
import type { ClusterPage, PoolView, ServerView } from "../../src/observe/admin/types.ts";
import { freshBrowser } from "../helpers/chromium.ts";
import { type Running, runCli } from "../helpers/cli.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startEtcdMember } from "../helpers/etcd-member.ts";
import { get as httpGet, startOrigin } from "../helpers/http-origin.ts";

// The page's functions run in Chromium; the tests compile without the DOM lib.
declare const document: {
  querySelectorAll(s: string): ArrayLike<{ children: ArrayLike<{ textContent: string | null }> }>;
};

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.close();
});

interface Member {
  readonly run: Running;
  /** The member's http listener port. */
  readonly http: number;
  /** http://127.0.0.1:PORT of its admin API. */
  readonly admin: string;
  /** Its cluster id (its record is `<prefix>proxies/<id>`). */
  readonly id: string;
  /** performance.now() once its record was seen (it registered before). */
  readonly registeredAt: number;
}

/**
 * A real `trunkline run` process sharing the test's etcd under `prefix`: an http listener, an
 * admin API, the pool `main` (one server, `server`) from its file. Stopped (SIGTERM, then
 * SIGKILL) and its folder removed when the test ends, passed or not.
 */
async function member(t: TestContext, prefix: string, server: string): Promise<Member> {
  const {
    run,
    port: http,
    admin,
  } = await startEtcdMember({
    protocol: "http",
    endpoint: etcd.endpoint,
    prefix,
    pool: `main: { balance: round-robin, servers: [ { address: ${server} } ] }`,
    startMs: 30_000,
    cleanup: (stop) => t.after(stop),
  });
  // Registered: its own record is in the list it serves.
  await until(
    async () => (await api<ClusterPage>({ admin }, "cluster")).proxies.some((p) => p.self),
    "registered",
  );
  const registeredAt = performance.now();
  return { run, http, admin, registeredAt, id: (await api<ClusterPage>({ admin }, "cluster")).id };
}

async function api<T>(m: Pick<Member, "admin">, path: string): Promise<T> {
  const r = await fetch(`${m.admin}/api/v1/${path}`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return (await r.json()) as T;
}

/** Polls `cond` every `everyMs` until it holds; the ms it took. Bounded in time and in tries. */
async function until(
  cond: () => Promise<boolean>,
  what: string,
  limitMs = 10_000,
  everyMs = 20,
): Promise<number> {
  const t0 = performance.now();
  const tries = Math.ceil(limitMs / everyMs) + 10;
  for (let i = 0; i < tries; i++) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what}: not within ${limitMs} ms`);
}

const ids = async (m: Member) => (await api<ClusterPage>(m, "cluster")).proxies.map((p) => p.id).sort();

/** Two members under one prefix, each seeing both records. */
async function pair(t: TestContext, prefix: string, server = "127.0.0.1:1"): Promise<[Member, Member]> {
  const [p1, p2] = await Promise.all([member(t, prefix, server), member(t, prefix, server)]);
  const want = [p1.id, p2.id].sort();
  await until(
    async () => (await Promise.all([ids(p1), ids(p2)])).every((l) => l.join() === want.join()),
    "both members listed on both",
  );
  return [p1, p2];
}

test("each member's record is under a lease of LEASE_TTL_S; a member killed with SIGKILL leaves the other's list when its lease ends", async (t) => {
  const prefix = "/members-lease/";
  const [p1, p2] = await pair(t, prefix);

  const leaseOf = async (m: Member) => {
    const key = `${prefix}proxies/${m.id}`;
    const r = await etcd.client.get(key).exec();
    assert.equal(r.kvs.length, 1, `${key} is in etcd`);
    const lease = r.kvs[0]!.lease;
    assert.notEqual(lease, "0", `${key} is put under a lease, not plainly`);
    const ttl = await etcd.client.leaseClient.leaseTimeToLive({ ID: lease, keys: true });
    return { key, lease, ttl };
  };
  const l1 = await leaseOf(p1);
  const l2 = await leaseOf(p2);
  assert.notEqual(l1.lease, l2.lease, "one lease per member");
  for (const { key, ttl } of [l1, l2]) {
    assert.equal(Number(ttl.grantedTTL), LEASE_TTL_S, `${key}: granted ${ttl.grantedTTL} s`);
    const left = Number(ttl.TTL);
    assert.ok(left > 0 && left <= LEASE_TTL_S, `${key}: ${left} s left of ${LEASE_TTL_S}`);
    assert.deepEqual(
      ttl.keys.map((k) => k.toString()),
      [key],
      "the lease holds the record (and nothing else)",
    );
  }

  // SIGKILL: no revoke, no delete; only the lease's end removes the record.
  const left = Number((await etcd.client.leaseClient.leaseTimeToLive({ ID: l2.lease })).TTL);
  const killedAt = performance.now();
  p2.run.child.kill("SIGKILL");
  assert.equal(await p2.run.exited(10_000), null, "killed, not exited");
  const limitMs = LEASE_TTL_S * 1_000 + 3_000;
  await until(
    async () => (await ids(p1)).join() === p1.id,
    "the killed member leaves p1's list",
    limitMs + 2_000,
    100,
  );
  const goneMs = performance.now() - killedAt;
  t.diagnostic(
    `SIGKILLed member left p1's /api/v1/cluster ${Math.round(goneMs)} ms after the kill (its lease had ${left} s left, TTL ${LEASE_TTL_S} s)`,
  );
  // etcd: "the lease will expire in under TTL+1 seconds"; it is not gone a second before TTL.
  assert.ok(
    goneMs >= (left - 1) * 1_000,
    `left after ${Math.round(goneMs)} ms: before its lease ended (${left} s)`,
  );
  assert.ok(goneMs >= (LEASE_TTL_S * 1_000) / 2, `left after ${Math.round(goneMs)} ms: within half a TTL`);
  assert.ok(goneMs <= limitMs, `left after ${Math.round(goneMs)} ms, over TTL + 3 s`);
  assert.equal((await etcd.client.get(`${prefix}proxies/${p2.id}`).exec()).kvs.length, 0, "record gone");

  // The survivor stays past one TTL after it registered: its lease is renewed (kept alive).
  const pastTtl = p1.registeredAt + (LEASE_TTL_S + 2) * 1_000 - performance.now();
  await until(
    async () => {
      assert.deepEqual(await ids(p1), [p1.id], "the survivor stays listed");
      return performance.now() > p1.registeredAt + (LEASE_TTL_S + 2) * 1_000;
    },
    "one TTL past the survivor's registration",
    Math.max(pastTtl, 0) + 5_000,
    250,
  );
  const still = await leaseOf(p1);
  assert.equal(still.lease, l1.lease, "the same lease, renewed");
  assert.ok(Number(still.ttl.TTL) > 0);
});

test("after a config change in etcd, both members' records carry a revision >= the change's, in the API and the dashboard", async (t) => {
  const prefix = "/members-rev/";
  const [p1, p2] = await pair(t, prefix);
  const records = async (m: Member) => (await api<ClusterPage>(m, "cluster")).proxies;
  const before = await records(p1);
  assert.equal(before.length, 2);

  await etcd.put(`${prefix}pools/p6`, JSON.stringify({ servers: [{ address: "127.0.0.1:2" }] }));
  const rev = await etcd.put(
    `${prefix}routes/r6`,
    JSON.stringify({ listener: "web", match: { host: "r6.test" }, pool: "p6" }),
  );
  assert.ok(
    before.every((p) => p.revision > 0 && p.revision < rev),
    `before: ${before.map((p) => p.revision)}`,
  );
  const ms = await until(
    async () =>
      (await Promise.all([records(p1), records(p2)])).every(
        (l) => l.length === 2 && l.every((p) => p.revision >= rev),
      ),
    `both records at revision >= ${rev}`,
  );
  t.diagnostic(
    `put at revision ${rev} -> both records rewritten with it, seen on both members' /api/v1/cluster, in ${Math.round(ms)} ms`,
  );
  for (const m of [p1, p2]) {
    const now = await records(m);
    assert.deepEqual(now.map((p) => p.id).sort(), [p1.id, p2.id].sort());
    for (const p of now) {
      assert.ok(p.revision >= rev, `${p.id}: revision ${p.revision} < ${rev}`);
      // The new config (a route and a pool more) is a new digest.
      const was = before.find((b) => b.id === p.id);
      assert.notEqual(p.digest, was?.digest, `${p.id}: the digest follows the config`);
    }
  }

  // The dashboard's Cluster card shows each row's revision.
  const cleanup: (() => Promise<void> | void)[] = [];
  t.after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const page = await (await freshBrowser(cleanup)).newPage();
  await page.goto(`${p1.admin}/`);
  await page.waitForFunction(
    (min) => {
      const rows = Array.from(document.querySelectorAll("#cluster-rows tr"));
      return rows.length === 2 && rows.every((r) => Number(r.children[4]?.textContent) >= min);
    },
    rev,
    { timeout: 10_000 },
  );
  const cells = await page.evaluate(() =>
    Array.from(document.querySelectorAll("#cluster-rows tr")).map((r) => ({
      proxy: r.children[0]?.textContent ?? "",
      revision: r.children[4]?.textContent ?? "",
    })),
  );
  t.diagnostic(`dashboard rows: ${JSON.stringify(cells)}`);
  assert.equal(cells.length, 2);
  for (const c of cells) assert.match(c.revision, /^\d+$/);
  assert.ok(cells.every((c) => Number(c.revision) >= rev));
  assert.deepEqual(cells.map((c) => c.proxy.replace(" (this one)", "")).sort(), [p1.id, p2.id].sort());
});

test("`trunkline ctl` weight and maint through proxy 1 are written to etcd and apply on proxy 2 within 1 s; ready and weight none delete the key", async (t) => {
  const prefix = "/members-ctl/";
  const server = "127.0.0.1:3";
  const [p1, p2] = await pair(t, prefix, server);
  const key = `${prefix}overrides/main/${server}`;
  const stored = async () => {
    const v = await etcd.client.get(key).string();
    return v === null ? null : (JSON.parse(v) as Record<string, unknown>);
  };
  const on2 = async (): Promise<ServerView> => {
    const s = (await api<PoolView>(p2, "pools/main")).servers.find((x) => x.address === server);
    assert.ok(s, `p2 has ${server} in main`);
    return s;
  };
  /** Runs `trunkline ctl --admin <p1> ARGS`; when it started and when it returned (etcd had the change). */
  const ctl = async (...args: string[]) => {
    const startedAt = performance.now();
    const r = await runCli(["ctl", "--admin", p1.admin, ...args], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `ctl ${args.join(" ")}: ${r.code}\n${r.stdout}\n${r.stderr}`);
    return { startedAt, returnedAt: performance.now() };
  };
  /** From ctl's return (the API answers once etcd took the write) until p2 shows it: under 1 s. */
  const appliesOn2 = async (
    what: string,
    run: { startedAt: number; returnedAt: number },
    cond: (s: ServerView) => boolean,
  ) => {
    await until(async () => cond(await on2()), `${what} on p2`, 5_000, 10);
    const ms = performance.now() - run.returnedAt;
    t.diagnostic(
      `ctl ${what} through p1 -> applied on p2 ${Math.round(ms)} ms after ctl returned (${Math.round(performance.now() - run.startedAt)} ms after ctl was started)`,
    );
    assert.ok(ms < 1_000, `${what} on p2 after ${Math.round(ms)} ms`);
  };

  const before = await on2();
  assert.equal(before.state, "up");
  assert.equal(before.weight, 1, "the config's weight");
  assert.equal(await stored(), null);

  const weighted = await ctl("weight", "main", server, "5");
  const w = await stored();
  assert.equal(w?.admin, null);
  assert.equal(w?.weight, 5);
  assert.equal(w?.by, p1.id, "written by proxy 1");
  assert.equal(typeof w?.reason, "string");
  await appliesOn2(
    "weight 5",
    weighted,
    (s) => s.weight === 5 && s.layers.operator.weight === 5 && s.state === "up",
  );

  const maint = await ctl("maint", "main", server);
  const m = await stored();
  assert.equal(m?.admin, "maint");
  assert.equal(m?.weight, 5, "maint keeps the operator's weight");
  assert.equal(m?.by, p1.id);
  await appliesOn2(
    "maint",
    maint,
    (s) => s.state === "maint" && s.layers.operator.admin === "maint" && s.weight === 5,
  );

  // ready leaves the weight: the key stays, with no admin state.
  const ready = await ctl("ready", "main", server);
  const r = await stored();
  assert.equal(r?.admin, null);
  assert.equal(r?.weight, 5);
  await appliesOn2(
    "ready",
    ready,
    (s) => s.state === "up" && s.layers.operator.admin === null && s.weight === 5,
  );

  // weight none lifts the last thing: the key is deleted, p2 is back to its config.
  const none = await ctl("weight", "main", server, "none");
  assert.equal(await stored(), null, `${key} deleted`);
  await appliesOn2(
    "weight none",
    none,
    (s) => s.weight === 1 && s.layers.operator.weight === null && s.state === "up",
  );
  assert.deepEqual(await etcd.client.getAll().prefix(`${prefix}overrides/`).keys(), []);
});

test("an HTTP route and pool put into etcd answer from the origin through both members' http listeners within 1 s", async (t) => {
  const prefix = "/members-http/";
  const origin = await startOrigin(t, "origin8");
  const [p1, p2] = await pair(t, prefix);
  const host = "app8.test";
  // Before: no such route on either.
  for (const m of [p1, p2]) assert.equal((await httpGet(m.http, "/x", { host })).status, 404);

  const t0 = performance.now();
  await etcd.put(`${prefix}pools/p8`, JSON.stringify({ servers: [{ address: `127.0.0.1:${origin.port}` }] }));
  await etcd.put(`${prefix}routes/r8`, JSON.stringify({ listener: "web", match: { host }, pool: "p8" }));
  const putMs = performance.now() - t0;
  /** ms from the first put until a GET through `m` answers from the origin. */
  const served = async (m: Member): Promise<number> => {
    for (let i = 0; i < 2_000 && performance.now() - t0 < 10_000; i++) {
      const r = await httpGet(m.http, "/hello", { host, timeoutMs: 2_000 });
      if (r.status === 200 && r.headers["x-origin"] === origin.name) return performance.now() - t0;
      await new Promise((res) => setTimeout(res, 5));
    }
    throw new Error(`no answer from the origin through ${m.http} within 10 s`);
  };
  const [ms1, ms2] = await Promise.all([served(p1), served(p2)]);
  const ms = Math.max(ms1, ms2);
  t.diagnostic(
    `etcd puts (${Math.round(putMs)} ms) -> GET answered by the origin through p1 in ${Math.round(ms1)} ms, p2 in ${Math.round(ms2)} ms`,
  );
  assert.ok(ms < 1_000, `through both in ${Math.round(ms)} ms`);
  const seen = origin.seen.filter((s) => s.url === "/hello");
  assert.ok(seen.length >= 2, "the origin got the requests");
  assert.equal(seen.at(-1)?.headers["x-forwarded-host"], host);
});
