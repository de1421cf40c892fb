// The admin API under 5,000 sessions in flight: /api/v1/sessions answers at most `limit`
// entries (1-1000, default 100), quickly, and /metrics and /api/v1/status stay quick too.
// The held upstream runs in a child process, so this process's descriptors suffice.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { agiHeader, waitFor } from "../helpers/obs-attack.ts";
import { startProxy } from "../helpers/proxy.ts";

const HOLDER = `
const net = require("node:net");
const held = [];
const srv = net.createServer((s) => { held.push(s); s.on("error", () => {}); s.resume(); });
srv.listen(0, "127.0.0.1", () => process.stdout.write(srv.address().port + "\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

async function startHolder(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["-e", HOLDER], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("holder did not start")), 5000);
    child.stdout?.once("data", (d: Buffer) => {
      clearTimeout(timer);
      resolve(Number(d.toString().trim()));
    });
  });
  return { child, port };
}

async function get(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  return { status: r.status, body, ms: Date.now() - t0 };
}

test("5,000 sessions in flight: /api/v1/sessions answers at most `limit` entries, bounded in size and time; status and metrics stay quick", async (t) => {
  const holder = await startHolder();
  t.after(() => {
    holder.child.stdin?.end();
    if (holder.child.exitCode === null) holder.child.kill("SIGKILL");
  });
  const p = await startProxy(`
admin: { listen: 127.0.0.1:0 }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, max_pending: 1024 } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:${holder.port} } ] } }
`);
  const clients: Socket[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await p.close();
  });
  const admin = p.proxy.adminAddress;
  assert.ok(admin, "admin API on");
  const port = p.port("agi");
  const N = 5_000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < N) {
        const i = next++;
        await new Promise<void>((resolve) => {
          const s = connect({ host: "127.0.0.1", port });
          clients.push(s);
          s.on("error", () => resolve());
          s.on("connect", () => {
            s.write(
              agiHeader({ agi_request: `agi://h/held/${i}?${"q".repeat(200)}`, agi_channel: `SIP/${i}` }),
            );
            resolve();
          });
        });
      }
    }),
  );
  await waitFor(() => p.proxy.runtime.activeSessions >= N, 15_000, `${N} sessions in flight`);

  const dflt = await get(admin.port, "/api/v1/sessions");
  assert.equal(dflt.status, 200);
  assert.equal((JSON.parse(dflt.body) as { sessions: unknown[] }).sessions.length, 100, "default limit 100");
  const max = await get(admin.port, "/api/v1/sessions?limit=1000");
  assert.equal(max.status, 200);
  const list = (JSON.parse(max.body) as { sessions: { request: string }[] }).sessions;
  assert.equal(list.length, 1000, "at most 1000");
  assert.ok(max.body.length < 1_000 * 1_024, `${max.body.length} bytes for 1000 sessions`);
  assert.ok(max.ms < 2_000, `limit=1000 took ${max.ms} ms`);
  const over = await get(admin.port, "/api/v1/sessions?limit=5000");
  assert.equal(over.status, 400, "a limit past 1000 is refused, not honoured");
  const status = await get(admin.port, "/api/v1/status");
  assert.equal(status.status, 200);
  assert.ok(status.ms < 2_000, `status took ${status.ms} ms`);
  const metrics = await get(admin.port, "/metrics");
  assert.equal(metrics.status, 200);
  assert.ok(metrics.ms < 2_000, `/metrics took ${metrics.ms} ms`);
});
