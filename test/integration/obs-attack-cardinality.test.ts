// Metric label cardinality: 5,000 sessions whose every client-chosen string is new (FastAGI
// request path, script, caller id, a route script's computed target; HTTP method, Host,
// path, User-Agent, X-Forwarded-For) must not add series to /metrics: labels come from the
// config and fixed sets only (README "Bounded labels").
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { refusedPort } from "../helpers/blackhole.ts";
import { agiHeader, agiRaw } from "../helpers/obs-attack.ts";
import { parsePromText } from "../helpers/prom-text.ts";
import { startProxy } from "../helpers/proxy.ts";

const ROUTE_SCRIPT = `export default (req) => req.path.startsWith("/script/")
  ? { to: "agi://127." + (req.params.n % 250) + "." + (Math.floor(req.params.n / 250) % 250) + ".9:1/" + req.params.n }
  : undefined;
`;

/** Sends one raw HTTP request with Connection: close and reads until the proxy closes. */
function httpOnce(port: number, head: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on("connect", () => s.write(head));
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** Runs `fn(i)` for i in [0, n) with at most `width` at once. */
async function pooled(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

test("5,000 sessions with new client strings each (FastAGI path, script, caller id, computed target; HTTP method, Host, path, UA, XFF) add no series to /metrics", async (t) => {
  const dead = await refusedPort();
  const p = await startProxy(
    `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
  - { name: web, protocol: http, listen: 127.0.0.1:0 }
routes:
  - { listener: agi, name: scripted, match: { path: ^/script/ }, script: ./route.mjs }
  - { listener: agi, name: ivr, pool: p }
  - { listener: web, name: known, match: { host: known.example }, pool: w }
  - { listener: web, name: sleepy, match: { host: sleepy.example }, service: sleepy, status: passivated }
pools:
  p: { connect_timeout: 300ms, total_timeout: 600ms, servers: [ { address: 127.0.0.1:${dead} } ] }
  w: { connect_timeout: 300ms, total_timeout: 600ms, servers: [ { address: 127.0.0.1:${dead} } ] }
`,
    { files: { "route.mjs": ROUTE_SCRIPT } },
  );
  t.after(() => p.close());
  const metrics = p.proxy.metrics;
  assert.ok(metrics);
  const series = async () => {
    const e = parsePromText(await metrics.text());
    return e.samples.filter(
      (s) => s.name.startsWith("trunkline_") && !/^trunkline_(process|nodejs)_/.test(s.name),
    );
  };
  const agi = p.port("agi");
  const web = p.port("web");
  const agiSession = (i: number) =>
    agiRaw(
      agi,
      agiHeader({
        agi_request: i % 2 === 0 ? `agi://h/zq${i}/x?n=${i}` : `agi://h/script/zq${i}?n=${i}`,
        agi_network_script: `zq${i}`,
        agi_callerid: `zq${i}`,
        agi_channel: `SIP/zq${i}`,
      }),
    );
  const hosts = ["known.example", "sleepy.example", "other.example"];
  const httpRequest = (i: number) =>
    httpOnce(
      web,
      `${i % 5 === 0 ? `ZQ${i}` : "GET"} /zq${i}/p HTTP/1.1\r\nHost: ${i % 4 === 3 ? `zq${i}.example` : hosts[i % 3]}\r\n` +
        `User-Agent: zq${i}\r\nX-Forwarded-For: 10.${i % 250}.0.1\r\nConnection: close\r\n\r\n`,
    );
  // Warm-up: one of each kind, so every fixed series (outcomes, code classes) exists.
  for (let i = 0; i < 20; i++) {
    await agiSession(i);
    await httpRequest(i);
  }
  await new Promise((r) => setTimeout(r, 200));
  const before = await series();
  const started = Date.now();
  await pooled(2_500, 16, (i) => agiSession(100 + i));
  await pooled(2_500, 16, (i) => httpRequest(100 + i));
  const took = Date.now() - started;
  await new Promise((r) => setTimeout(r, 200));
  const after = await series();
  const key = (s: { name: string; labels: Readonly<Record<string, string>> }) =>
    `${s.name}${JSON.stringify(s.labels)}`;
  const old = new Set(before.map(key));
  const added = after.filter((s) => !old.has(key(s))).map(key);
  assert.ok(
    added.length <= 10,
    `${added.length} new series after 5,000 sessions (${took} ms): ${added.slice(0, 10).join("\n")}`,
  );
  const leaked = after.filter((s) =>
    Object.values(s.labels).some((v) => /zq\d|ZQ\d|127\.\d+\.\d+\.9/.test(v)),
  );
  assert.deepEqual(leaked.map(key).slice(0, 5), [], "no client string or computed target is a label value");
  const sessions = after
    .filter((s) => s.name === "trunkline_sessions_total")
    .reduce((a, s) => a + s.value, 0);
  assert.ok(sessions >= 5_000, `the sessions were counted: ${sessions}`);
});
