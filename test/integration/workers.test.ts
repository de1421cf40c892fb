import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { type AgiServer, startAgiServer } from "../helpers/upstreams.ts";

const supported = reusePortSupported();

function config(servers: AgiServer[], workers: number | string, extra = ""): string {
  return `
workers: ${workers}
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
routes:
  - { listener: agi, match: { path: ".*" }, pool: p }
pools:
  p:
    balance: least-sessions
    servers:
${servers.map((s) => `      - { address: 127.0.0.1:${s.port}${extra} }`).join("\n")}
`;
}

/** Runs `n` FastAGI sessions, `parallel` at a time; returns their statuses. */
async function sessions(port: number, n: number, parallel: number): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        out.push((await agiCall({ port, url: `agi://127.0.0.1:${port}/w` })).status);
      }
    }),
  );
  return out;
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("workers", { timeout: 120_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });
  async function proxyOn(yaml: string): Promise<TestProxy> {
    const p = await startProxy(yaml);
    open.push(p);
    return p;
  }
  async function agi(opts: Parameters<typeof startAgiServer>[0] = {}): Promise<AgiServer> {
    const s = await startAgiServer(opts);
    open.push(s);
    return s;
  }

  if (!supported) {
    test("workers above 1 on a Node without SO_REUSEPORT: one line, one thread, sessions work", async () => {
      const s = await agi();
      const p = await proxyOn(config([s], 2));
      const line = p.logs.find((r) => r.event === "worker" && r.kind === "not_started");
      assert.ok(line, "a line says why");
      assert.match(String(line.msg), /workers: 2 needs Node >= 22\.12/);
      assert.equal(p.proxy.threads.threads, 1);
      assert.deepEqual(p.proxy.threads.view(), []);
      assert.deepEqual(await sessions(p.port(), 4, 2), ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"]);
    });
    return;
  }

  for (const n of [2, 4]) {
    test(`${n} threads: connections land on every one, and every session is logged once`, async () => {
      const s = await agi({ commands: ["NOOP"] });
      const p = await proxyOn(config([s], n));
      assert.equal(p.proxy.threads.threads, n);
      const statuses = await sessions(p.port(), 200, 20);
      assert.equal(statuses.filter((x) => x === "SUCCESS").length, 200);
      const view = p.proxy.threads.view();
      assert.equal(view.length, n);
      for (const t of view) assert.ok(t.started > 0, `thread ${t.worker} took none: ${JSON.stringify(view)}`);
      assert.equal(
        view.reduce((a, t) => a + t.started, 0),
        200,
      );
      // Workers' session lines reach the main thread's log.
      await until("200 session lines", () => (p.sessions().length >= 200 ? true : undefined));
      assert.equal(p.sessions().length, 200);
    });
  }
});
