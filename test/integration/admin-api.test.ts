import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { AdminServer } from "../../src/observe/admin/server.ts";
import type { AdminModel } from "../../src/observe/admin/types.ts";
import { replyingAgent } from "../helpers/agent.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { parsePromText, total } from "../helpers/prom-text.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const TOKEN = "s3cret-token-of-32-characters-xx";

function api(p: TestProxy) {
  const a = p.proxy.adminAddress;
  if (!a) throw new Error("no admin API");
  const base = `http://127.0.0.1:${a.port}`;
  return async (method: string, path: string, body?: unknown, token: string | undefined = TOKEN) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: the API's JSON answers, checked field by field below
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
}

test("status, pools and sessions follow real sessions; a drain survives a reload and an agent's up, ready lifts it", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 500 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  const agent = await replyingAgent();
  cleanup.push(a.close, b.close, agent.close);
  const cfg = (extra: string) => `
admin: { listen: 127.0.0.1:0, token_file: admin.token }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    health: { interval: 100ms, timeout: 300ms, checks: [ { agent: ${agent.port} } ] }
    servers: [ { address: 127.0.0.1:${a.port} }, { address: 127.0.0.1:${b.port} } ]
${extra}`;
  const p = await startProxy(cfg(""), { files: { "admin.token": `${TOKEN}\n` } });
  cleanup.push(p.close);
  const call = api(p);
  const status = await call("GET", "/api/v1/status");
  assert.equal(status.status, 200);
  assert.equal(status.json.pid, process.pid);
  assert.equal(status.json.generation, 1);
  assert.equal(status.json.listeners[0].protocol, "fastagi");
  assert.equal(status.json.listeners[0].sessions_active, 0);

  const open = agiCall({ port: p.port(), url: "agi://x/held" });
  await until(() => a.stats.sessions === 1, 3000, "a session on a");
  const during = await call("GET", "/api/v1/sessions?limit=5");
  assert.equal(during.json.sessions.length, 1);
  assert.equal(during.json.sessions[0].server, `127.0.0.1:${a.port}`);
  assert.equal(during.json.sessions[0].request, "agi://x/held");
  assert.equal((await call("GET", "/api/v1/pools/main")).json.servers[0].active, 1);

  const addr = `127.0.0.1:${a.port}`;
  const drained = await call("POST", `/api/v1/pools/main/servers/${addr}/drain`);
  assert.equal(drained.status, 200);
  assert.equal(drained.json.state, "drain");
  assert.equal(drained.json.admin_layer, "operator");
  const polls = agent.hits();
  await until(() => agent.hits() >= polls + 2, 3000, "the agent said up ready twice");
  p.writeConfig(cfg("shutdown_timeout: 5s"));
  assert.equal((await call("POST", "/api/v1/reload")).json.outcome, "applied");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/new" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 1, "the drained server got no new session");
  assert.equal((await open).status, "SUCCESS", "its open session carried on");
  let after1 = await call("GET", "/api/v1/pools/main");
  for (let i = 0; i < 100 && after1.json.servers[0].active !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after1 = await call("GET", "/api/v1/pools/main");
  }
  assert.equal(after1.json.servers[0].active, 0, "the count went back when the session ended");
  assert.equal(after1.json.servers[0].state, "drain");
  assert.equal(after1.json.servers[0].total, 1);

  assert.equal((await call("POST", `/api/v1/pools/main/servers/${addr}/ready`)).json.state, "up");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/back" })).status, "SUCCESS");
  assert.equal(a.stats.sessions, 2);
  const st = await call("GET", "/api/v1/status");
  assert.equal(st.json.generation, 2);
  assert.equal(st.json.last_reload.outcome, "applied");
  // GET /metrics on the same listener: Prometheus text, counting the sessions just run.
  const res = await fetch(`http://127.0.0.1:${p.proxy.adminAddress!.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const prom = parsePromText(await res.text());
  assert.equal(total(prom, "trunkline_sessions_total", { outcome: "completed" }), 3);
  assert.equal(total(prom, "trunkline_config_generation"), 2);
});

test("every 4xx path: unknown pool or server, bad weight, bad limit, oversized body, wrong or missing token, wrong method; a rejected reload lists its errors", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(
    `
admin: { listen: 127.0.0.1:0, token_file: admin.token }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "admin.token": TOKEN } },
  );
  cleanup.push(p.close);
  const call = api(p);
  const addr = `127.0.0.1:${up.port}`;
  const cases: [string, string, unknown, string | undefined, number, string][] = [
    ["POST", "/api/v1/pools/nope/servers/1.2.3.4:1/drain", undefined, TOKEN, 404, "E_ADMIN_NOT_FOUND"],
    ["POST", "/api/v1/pools/main/servers/1.2.3.4:1/drain", undefined, TOKEN, 404, "E_ADMIN_NOT_FOUND"],
    ["GET", "/api/v1/pools/nope", undefined, TOKEN, 404, "E_ADMIN_NOT_FOUND"],
    ["GET", "/api/v2/status", undefined, TOKEN, 404, "E_ADMIN_NOT_FOUND"],
    [
      "POST",
      `/api/v1/pools/main/servers/${addr}/weight`,
      { weight: "heavy" },
      TOKEN,
      400,
      "E_ADMIN_BAD_REQUEST",
    ],
    ["POST", `/api/v1/pools/main/servers/${addr}/weight`, "{not json", TOKEN, 400, "E_ADMIN_BAD_REQUEST"],
    ["GET", "/api/v1/sessions?limit=0", undefined, TOKEN, 400, "E_ADMIN_BAD_REQUEST"],
    [
      "POST",
      `/api/v1/pools/main/servers/${addr}/drain`,
      { x: "y".repeat(70_000) },
      TOKEN,
      413,
      "E_ADMIN_TOO_LARGE",
    ],
    [
      "POST",
      `/api/v1/pools/main/servers/${addr}/drain`,
      undefined,
      "wrong-token-wrong-token-wrong-to",
      401,
      "E_ADMIN_UNAUTHORIZED",
    ],
    ["POST", `/api/v1/pools/main/servers/${addr}/drain`, undefined, "", 401, "E_ADMIN_UNAUTHORIZED"],
    ["DELETE", "/api/v1/status", undefined, TOKEN, 405, "E_ADMIN_METHOD"],
  ];
  for (const [method, path, body, token, status, code] of cases) {
    const r = await call(method, path, body, token);
    assert.equal(r.status, status, `${method} ${path}`);
    assert.equal(r.json.error?.code, code, `${method} ${path}`);
    assert.equal(typeof r.json.error?.message, "string");
  }
  assert.equal(
    await p.proxy.runtime.generation.pools.get("main")!.servers[0]!.admin,
    "ready",
    "nothing changed",
  );
  const w = await call("POST", `/api/v1/pools/main/servers/${addr}/weight`, { weight: 7 });
  assert.equal(w.json.weight, 7);
  p.writeConfig("listeners: [ { name: agi, protocol: nope } ]\n");
  const rej = await call("POST", "/api/v1/reload");
  assert.equal(rej.status, 422);
  assert.equal(rej.json.error.code, "E_ADMIN_RELOAD_REJECTED");
  assert.ok(
    rej.json.error.errors.some((e: string) => /unknown protocol/.test(e)),
    JSON.stringify(rej.json),
  );
  // The proxy still serves with the old config.
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/y" })).status, "SUCCESS");
});

test("the admin API will not start on a non-loopback address without a token", async () => {
  await assert.rejects(
    startProxy(`
admin: { listen: 0.0.0.0:0 }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:1 } ] } }
`),
    /admin\.listen: 0\.0\.0\.0:0 is not a loopback address: give a token_file/,
  );
});

test("a slow client that never finishes its request headers is closed at the headers timeout", async () => {
  const model = {} as AdminModel;
  const srv = new AdminServer(
    { listen: { host: "127.0.0.1", port: 0 }, tokenFile: undefined, token: undefined },
    model,
    { headersTimeoutMs: 300 },
  );
  await srv.start();
  cleanup.push(() => srv.close());
  const sock = connect({ host: "127.0.0.1", port: srv.address!.port });
  sock.on("error", () => {});
  sock.write("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n");
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    sock.on("close", () => resolve());
    sock.resume();
  });
  assert.ok(Date.now() - t0 < 5_000, "closed by the server, well before the idle timeout");
});
