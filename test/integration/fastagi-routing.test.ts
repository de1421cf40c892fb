import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("`to:` sends straight to a server and gives it the target's URL", async () => {
  const pooled = await startAgiServer({ commands: ["NOOP"] });
  const legacy = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(pooled.close, legacy.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { path: ^/legacy }, to: "agi://127.0.0.1:${legacy.port}/old-app?v=1" }
  - { listener: agi, pool: main }
pools: { main: { servers: [ { address: 127.0.0.1:${pooled.port} } ] } }
`);
  cleanup.push(p.close);
  assert.equal((await agiCall({ port: p.port(), url: "agi://pbx/legacy/x" })).status, "SUCCESS");
  assert.equal(legacy.stats.sessions, 1);
  assert.equal(pooled.stats.sessions, 0);
  assert.match(
    legacy.stats.headers[0]!.toString(),
    new RegExp(
      `agi_network_script: old-app\\?v=1\\nagi_request: agi://127\\.0\\.0\\.1:${legacy.port}/old-app\\?v=1\\n`,
    ),
  );
});

test("a route script picks the pool; its throw or slowness ends in FAILURE, and the proxy carries on", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const script = `export default async (r) => {
  if (r.params.mode === "throw") throw new Error("no such customer");
  if (r.params.mode === "slow") await new Promise((res) => setTimeout(res, 5000));
  return r.vars.agi_context === "vip" ? { pool: "main" } : undefined;
};\n`;
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { name: by-script, listener: agi, script: ./route.mjs, script_timeout: 300ms } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "route.mjs": script } },
  );
  cleanup.push(p.close);
  assert.equal(
    (await agiCall({ port: p.port(), url: "agi://x/y", vars: { agi_context: "vip" } })).status,
    "SUCCESS",
  );
  const none = await agiCall({ port: p.port(), url: "agi://x/y", vars: { agi_context: "other" } });
  assert.equal(none.status, "FAILURE");
  assert.equal((await p.session(1)).outcome, "failure_no_route");
  const thrown = await agiCall({ port: p.port(), url: "agi://x/y?mode=throw", vars: { agi_context: "vip" } });
  assert.equal(thrown.status, "FAILURE");
  const s2 = await p.session(2);
  assert.equal(s2.outcome, "failure_route_error");
  assert.match(String(s2.error), /no such customer/);
  const t = Date.now();
  const slow = await agiCall({ port: p.port(), url: "agi://x/y?mode=slow", vars: { agi_context: "vip" } });
  assert.equal(slow.status, "FAILURE");
  assert.ok(Date.now() - t < 2000);
  assert.match(String((await p.session(3)).error), /did not answer within 300ms/);
  assert.equal(
    (await agiCall({ port: p.port(), url: "agi://x/y", vars: { agi_context: "vip" } })).status,
    "SUCCESS",
  );
  assert.equal(up.stats.sessions, 2);
});

test("hash: the same caller lands on the same server; forwarded_for adds agi_x_fwd_for", async () => {
  const servers = await Promise.all([0, 1, 2].map(() => startAgiServer({ commands: ["NOOP"] })));
  for (const s of servers) cleanup.push(s.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, forwarded_for: true } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: hash
    hash_key: "\${agi_callerid}"
    servers: [ ${servers.map((s) => `{ address: 127.0.0.1:${s.port} }`).join(", ")} ]
`);
  cleanup.push(p.close);
  const where: Record<string, Set<string>> = {};
  for (let round = 0; round < 3; round++) {
    for (let caller = 0; caller < 12; caller++) {
      const before = p.sessions().length;
      assert.equal(
        (await agiCall({ port: p.port(), url: "agi://x/y", vars: { agi_callerid: `55500${caller}` } }))
          .status,
        "SUCCESS",
      );
      const s = await p.session(before);
      const seen = where[caller] ?? new Set<string>();
      seen.add(String(s.server));
      where[caller] = seen;
    }
  }
  for (const [caller, set] of Object.entries(where))
    assert.equal(set.size, 1, `caller ${caller} moved: ${[...set]}`);
  const used = new Set(Object.values(where).map((s) => [...s][0]));
  assert.ok(used.size >= 2, "callers spread over the servers");
  const header = servers.find((s) => s.stats.headers.length > 0)!.stats.headers[0]!.toString();
  assert.match(header, /\nagi_x_fwd_for: 127\.0\.0\.1\n\n$/);
});

test("shutdown_timeout bounds the drain: a session still open then is closed and the proxy exits 0", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 20_000 });
  cleanup.push(up.close);
  const dir = mkdtempSync(join(tmpdir(), "tl-sd-"));
  const f = join(dir, "t.yaml");
  writeFileSync(
    f,
    `shutdown_timeout: 500ms\nlisteners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: agi, pool: main } ]\npools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }\n`,
  );
  const proc = startCli(["run", "-c", f]);
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started");
  // Port 0 in the config: the kernel picks a free port, read back from the log.
  const port = Number((await proc.waitFor((l) => l.msg === "listening")).port);
  const call = agiCall({ port, url: "agi://x/y", timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 300));
  const t = Date.now();
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited(5000), 0);
  const took = Date.now() - t;
  assert.ok(took >= 450 && took < 3000, `exited after ${took}ms`);
  const r = await call;
  assert.equal(r.closedBy, "server");
  const s = await proc.waitFor((l) => l.event === "session");
  assert.equal(s.outcome, "closed");
});
