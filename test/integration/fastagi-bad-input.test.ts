import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Sends raw bytes, returns what came back and how long until the proxy closed. */
function rawSession(
  port: number,
  chunks: (Buffer | string)[],
  timeoutMs = 5000,
): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = connect({ host: "127.0.0.1", port });
    let reply = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs}ms; got ${JSON.stringify(reply)}`));
    }, timeoutMs);
    sock.on("connect", () => {
      for (const c of chunks) if (!sock.destroyed) sock.write(c);
    });
    sock.on("data", (d) => {
      reply += d.toString("latin1");
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, ms: Date.now() - started });
    });
  });
}

test("bad headers get FAILURE, are logged with the peer's address, and the proxy carries on", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 300ms } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const cases: [string, (Buffer | string)[], string, RegExp][] = [
    ["no agi_request", ["agi_network: yes\nagi_channel: x\n\n"], "bad_header", /no agi_request/],
    ["too long", [`agi_request: agi://h/${"x".repeat(70 * 1024)}`], "bad_header", /longer than 65536 bytes/],
    [
      "too many lines",
      [`agi_request: agi://h/x\n${"agi_arg_1: y\n".repeat(300)}\n`],
      "bad_header",
      /more than 256 lines/,
    ],
    [
      "binary junk",
      [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0a, 0x0a])],
      "bad_header",
      /not "name: value"|control bytes|invalid variable name/,
    ],
    ["too slow", ["agi_network: yes\nagi_req"], "header_timeout", /no complete header within 300ms/],
    ["not a URL", ["agi_request: ???\n\n"], "bad_header", /not a URL/],
  ];
  for (const [name, chunks, outcome, why] of cases) {
    const before = p.sessions().length;
    const r = await rawSession(p.port(), chunks);
    assert.equal(r.reply, "FAILURE\n", name);
    await p.waitForLog(() => p.sessions().length > before);
    const s = p.sessions()[before];
    assert.ok(s, `${name}: logged`);
    assert.equal(s.outcome, outcome, name);
    assert.match(String(s.error), why, name);
    assert.match(String(s.client), /^127\.0\.0\.1:\d+$/, name);
    if (name === "too slow") assert.ok(r.ms >= 280 && r.ms < 2000, `timeout after ${r.ms}ms`);
  }
  // The proxy carries on.
  const ok = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(ok.status, "SUCCESS");
  assert.equal(up.stats.sessions, 1, "no bad header reached the upstream");
});

test("a client that vanishes mid-header leaks nothing", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  for (let i = 0; i < 20; i++) {
    const s = connect({ host: "127.0.0.1", port: p.port() });
    s.on("error", () => {});
    await new Promise((r) => s.once("connect", r));
    s.write("agi_network: yes\nagi_request: agi://h/x\n");
    if (i % 2 === 0) s.destroy();
    else s.resetAndDestroy();
  }
  await p.waitForLog(() => p.sessions().length === 20);
  assert.ok(p.sessions().every((s) => s.outcome === "client_gone"));
  assert.equal(p.proxy.runtime.activeSessions, 0);
});
