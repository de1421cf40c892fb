import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ClusterMemberView, PoolView, StatusView } from "../../src/observe/admin/types.ts";
import { agiCall } from "../helpers/asterisk.ts";
import type { Running } from "../helpers/cli.ts";
import { startEtcd, type TestEtcd } from "../helpers/etcd.ts";
import { startEtcdMember } from "../helpers/etcd-member.ts";
import { type AgiServer, startAgiServer } from "../helpers/upstreams.ts";

let etcd: TestEtcd;
let a: AgiServer;
let b: AgiServer;
const cleanup: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await startEtcd();
  a = await startAgiServer({ commands: ["NOOP"] });
  b = await startAgiServer({ commands: ["NOOP"] });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await a.close();
  await b.close();
  await etcd.close();
});

interface Member {
  readonly run: Running;
  readonly agi: number;
  readonly admin: string;
}

/** A real `trunkline run` process sharing the test's etcd. */
async function member(prefix: string): Promise<Member> {
  const {
    run,
    port: agi,
    admin,
  } = await startEtcdMember({
    protocol: "fastagi",
    endpoint: etcd.endpoint,
    prefix,
    pool: `main: { balance: round-robin, servers: [ { address: 127.0.0.1:${a.port} }, { address: 127.0.0.1:${b.port} } ] }`,
    startMs: 20_000,
    cleanup: (stop) => cleanup.push(stop),
  });
  return { run, agi, admin };
}

async function get<T>(m: Member, path: string): Promise<T> {
  const r = await fetch(`${m.admin}/api/v1/${path}`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return (await r.json()) as T;
}

/** Polls until `cond` holds on every member; the time it took. */
async function onAll(
  ms: readonly Member[],
  cond: (m: Member) => Promise<boolean>,
  what: string,
): Promise<number> {
  const t0 = Date.now();
  const end = t0 + 10_000;
  for (;;) {
    const ok = await Promise.all(ms.map(cond));
    if (ok.every(Boolean)) return Date.now() - t0;
    if (Date.now() > end) throw new Error(`${what}: not on every proxy within 10 s (${ok.join()})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("two proxies share one etcd: a route reaches both within 1 s, a drain through one applies on both", async (t) => {
  const prefix = "/cluster/";
  const [p1, p2] = await Promise.all([member(prefix), member(prefix)]);
  const both = [p1!, p2!];

  const listed = await onAll(
    both,
    async (m) => (await get<{ proxies: ClusterMemberView[] }>(m, "cluster")).proxies.length === 2,
    "cluster of two",
  );
  const cluster = await get<{ id: string; proxies: ClusterMemberView[] }>(p1!, "cluster");
  assert.equal(cluster.proxies.filter((p) => p.self).length, 1);
  assert.equal(cluster.proxies.find((p) => p.self)?.id, cluster.id);
  assert.ok(cluster.proxies.every((p) => p.pid > 0 && p.admin !== null && p.digest.length === 64));

  await etcd.put(
    `${prefix}routes/r1`,
    JSON.stringify({ listener: "agi", match: { path: "/r1" }, pool: "main" }),
  );
  const routeMs = await onAll(
    both,
    async (m) => (await get<StatusView>(m, "status")).routes.some((r) => r.name === "r1"),
    "route r1",
  );
  t.diagnostic(`route in etcd -> applied on both proxies: ${routeMs} ms (cluster listed in ${listed} ms)`);
  assert.ok(routeMs < 1_000, `route applied on both in ${routeMs} ms`);
  for (const m of both) assert.equal((await agiCall({ port: m.agi, url: "agi://x/r1" })).status, "SUCCESS");
  const st = await get<StatusView>(p2!, "status");
  assert.equal(st.config_source.kind, "etcd");
  assert.equal(st.config_source.state, "up");
  assert.ok((st.config_source.revision ?? 0) > 0);

  const addrA = `127.0.0.1:${a.port}`;
  const drain = await fetch(`${p1!.admin}/api/v1/pools/main/servers/${addrA}/drain`, { method: "POST" });
  assert.equal(drain.status, 200);
  const stateOf = async (m: Member) =>
    (await get<PoolView>(m, "pools/main")).servers.find((s) => s.address === addrA)?.state;
  const drainMs = await onAll(both, async (m) => (await stateOf(m)) === "drain", "drain");
  t.diagnostic(`drain through proxy 1 -> applied on both: ${drainMs} ms`);
  assert.ok(drainMs < 1_000, `drain on both in ${drainMs} ms`);
  // With a drained, every new session on either proxy goes to b.
  const before = b.stats.sessions;
  for (const m of both) await agiCall({ port: m.agi, url: "agi://x/r1" });
  assert.equal(b.stats.sessions, before + 2);

  // Lifted through the other proxy: the key is deleted, both lift it.
  const ready = await fetch(`${p2!.admin}/api/v1/pools/main/servers/${addrA}/ready`, { method: "POST" });
  assert.equal(ready.status, 200);
  await onAll(both, async (m) => (await stateOf(m)) === "up", "ready");
  const keys = await etcd.client.getAll().prefix(`${prefix}overrides/`).keys();
  assert.deepEqual(keys, []);

  // A proxy that stops leaves the list at once (its lease is revoked).
  p2!.run.child.kill("SIGTERM");
  assert.equal(await p2!.run.exited(10_000), 0);
  const goneMs = await onAll(
    [p1!],
    async (m) => (await get<{ proxies: unknown[] }>(m, "cluster")).proxies.length === 1,
    "p2 gone",
  );
  t.diagnostic(`stopped proxy left the cluster list ${goneMs} ms after its exit`);
  assert.ok(goneMs < 2_000, `left in ${goneMs} ms, not at its lease's end (10 s)`);
});
