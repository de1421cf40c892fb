// Passive health from HTTP connect errors (issue #14; README "Health": "the connect failures
// of real sessions count ... max_fails failures in a row take a server out for fail_timeout").
// A pool [a port where nothing listens, a live origin], balance failover so the dead one is
// always asked first: a refused connect must count against it, take it out once max_fails is
// reached, and the next requests must go straight to the live one (no failed try in their
// access line) until fail_timeout has passed.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { deadPort, get, httpConfig, startOrigin } from "../helpers/http-origin.ts";
import { type LogRecord, startProxy, type TestProxy, until } from "../helpers/proxy.ts";

const TOKEN = "passive-connect-token-0123456789";

interface Setup {
  p: TestProxy;
  dead: string;
  good: string;
  served: () => number;
  /** One request through the proxy: its status, the origin that answered, its access line. */
  request(i: number): Promise<{ status: number; origin: string | undefined; line: LogRecord }>;
  /** The admin API's view of a server of pool p. */
  view(address: string): Promise<ServerView>;
}

interface ServerView {
  address: string;
  state: string;
  connect_failures: number;
  layers: { passive: { down_until: string | null; consecutive_failures: number } };
}

async function setup(
  t: TestContext,
  passive: string /* the pool's max_fails / fail_timeout lines, "" for the defaults */,
): Promise<Setup> {
  const origin = await startOrigin(t, "good");
  const deadAt = await deadPort();
  const pools = `  p:
    balance: failover
${passive}    servers:
      - { address: 127.0.0.1:${deadAt} }
      - { address: 127.0.0.1:${origin.port} }
`;
  const yaml = `admin: { listen: 127.0.0.1:0, token_file: admin.token }\n${httpConfig(
    "  - { listener: web, pool: p }",
    pools,
  )}`;
  const p = await startProxy(yaml, { files: { "admin.token": `${TOKEN}\n` } });
  t.after(() => p.close());
  const admin = p.proxy.adminAddress;
  assert.ok(admin, "the admin API listens");
  const s: Setup = {
    p,
    dead: `127.0.0.1:${deadAt}`,
    good: `127.0.0.1:${origin.port}`,
    served: () => origin.requests,
    async request(i) {
      const r = await get(p.port("web"), `/r${i}`, { host: "a" });
      const line = await p.session(i);
      return { status: r.status, origin: r.headers["x-origin"] as string | undefined, line };
    },
    async view(address) {
      const res = await fetch(`http://127.0.0.1:${admin.port}/api/v1/pools/p`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { servers: ServerView[] };
      const v = body.servers.find((x) => x.address === address);
      assert.ok(v, `${address} in /api/v1/pools/p`);
      return v;
    },
  };
  return s;
}

/** The servers of a request's failed tries, from its access line. */
function failedOn(line: LogRecord): string[] {
  const a = (line.failed_attempts ?? []) as { server: string; code: string }[];
  return a.map((x) => `${x.server} ${x.code}`);
}

test("max_fails: 1, fail_timeout: 30s: one refused connect takes the server out; the next request does not try it", {
  timeout: 30_000,
}, async (t) => {
  const s = await setup(t, "    max_fails: 1\n    fail_timeout: 30s\n");
  assert.equal((await s.view(s.dead)).state, "up", "up before any request");

  const first = await s.request(0);
  assert.equal(first.status, 200);
  assert.equal(first.origin, "good");
  assert.deepEqual(failedOn(first.line), [`${s.dead} E_CONNECT_FAILED`], "the dead server was tried first");
  assert.equal(first.line.server, s.good);

  // Marked down by the passive layer, for fail_timeout from now.
  const reg = s.p.proxy.runtime.registry.get(s.dead);
  assert.ok(reg, "the dead server is in the registry");
  const left = reg.downUntil - Date.now();
  assert.ok(left > 25_000 && left <= 30_000, `down for another ${left} ms, expected about 30 s`);
  const v = await s.view(s.dead);
  assert.equal(v.state, "down");
  assert.notEqual(v.layers.passive.down_until, null);
  assert.equal(v.layers.passive.consecutive_failures, 1);
  assert.equal(v.connect_failures, 1);
  const change = await s.p.waitForLog(
    (l) => l.event === "server_state" && l.server === s.dead && l.what === "passive" && l.to === "down",
  );
  assert.equal(change.layer, "passive");

  // The second request goes straight to the live origin: no try of the dead one.
  const second = await s.request(1);
  assert.equal(second.status, 200);
  assert.equal(second.origin, "good");
  assert.deepEqual(failedOn(second.line), [], "no failed try in the second request's line");
  assert.equal((await s.view(s.dead)).connect_failures, 1, "no new connect failure on the dead server");
  assert.equal(s.served(), 2);
});

test("the README's defaults (max_fails 3, fail_timeout 10s): out after the third refused connect in a row, not before", {
  timeout: 30_000,
}, async (t) => {
  const s = await setup(t, "");
  for (let i = 0; i < 3; i++) {
    const r = await s.request(i);
    assert.equal(r.status, 200);
    assert.deepEqual(failedOn(r.line), [`${s.dead} E_CONNECT_FAILED`], `request ${i} tried the dead server`);
    const v = await s.view(s.dead);
    assert.equal(v.layers.passive.consecutive_failures, i + 1);
    assert.equal(v.state, i < 2 ? "up" : "down", `after ${i + 1} refused connect(s)`);
  }
  const left = (s.p.proxy.runtime.registry.get(s.dead)?.downUntil ?? 0) - Date.now();
  assert.ok(left > 5_000 && left <= 10_000, `down for another ${left} ms, expected about 10 s`);
  const fourth = await s.request(3);
  assert.equal(fourth.origin, "good");
  assert.deepEqual(failedOn(fourth.line), [], "the fourth request does not try the dead server");
  assert.equal((await s.view(s.dead)).connect_failures, 3);
});

test("after fail_timeout the server is tried again, and a refused connect takes it out again", {
  timeout: 30_000,
}, async (t) => {
  const s = await setup(t, "    max_fails: 1\n    fail_timeout: 1s\n");
  assert.deepEqual(failedOn((await s.request(0)).line), [`${s.dead} E_CONNECT_FAILED`]);
  assert.deepEqual(failedOn((await s.request(1)).line), [], "skipped while down");
  const reg = s.p.proxy.runtime.registry.get(s.dead);
  assert.ok(reg && reg.downUntil > Date.now(), "down");
  // Observable state: the passive layer's down_until has passed (the admin API says up).
  let polls = 0;
  let state = "down";
  const end = Date.now() + 5_000;
  while (state !== "up" && Date.now() < end && polls++ < 500) {
    state = (await s.view(s.dead)).state;
    if (state !== "up") await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(state, "up", "up again after fail_timeout");
  const third = await s.request(2);
  assert.equal(third.origin, "good");
  assert.deepEqual(
    failedOn(third.line),
    [`${s.dead} E_CONNECT_FAILED`],
    "tried again once fail_timeout passed",
  );
  await until(() => (reg?.downUntil ?? 0) > Date.now(), 2_000, "down again");
  assert.equal((await s.view(s.dead)).connect_failures, 2);
});
