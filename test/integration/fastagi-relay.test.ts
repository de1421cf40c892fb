import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { buildAsteriskHeader } from "../../src/protocols/fastagi/asterisk-header.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function config(upstreamPort: number, extra = ""): string {
  return `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, hangup_grace: 300ms }
routes:
  - listener: agi
    match: { path: "^/ivr/(?<app>[a-z]+)$" }
    rewrite: /apps/$<app>
    pool: main
  - { listener: agi, pool: main }
pools:
  main:
    servers: [ { address: 127.0.0.1:${upstreamPort} } ]
${extra}`;
}

test("a session is relayed both ways; the header reaches the server byte-for-byte", async () => {
  const up = await startAgiServer({
    commands: ["NOOP", "GET VARIABLE FOO", 'SET VARIABLE BAR "hello world"'],
  });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const url = `agi://127.0.0.1:${p.port()}/hello?x=1&y=%20z`;
  const header = buildAsteriskHeader({
    url,
    vars: { agi_calleridname: "Zoë Ærø 日本" },
    args: ["arg1", "arg 2"],
  });
  const r = await agiCall({
    port: p.port(),
    header,
    reply: (_c, i) => (i === 1 ? "200 result=1 (preset)" : "200 result=1"),
  });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP", "GET VARIABLE FOO", 'SET VARIABLE BAR "hello world"']);
  assert.deepEqual(up.stats.headers[0], header);
  assert.deepEqual(up.stats.repliesSeen[0], ["200 result=1", "200 result=1 (preset)", "200 result=1"]);
  const s = await p.waitForLog((l) => l.event === "session");
  assert.equal(s.outcome, "completed");
  assert.equal(s.pool, "main");
  assert.equal(s.server, `127.0.0.1:${up.port}`);
  assert.equal(s.request, url);
  assert.equal((s.bytes_in as number) > header.length, true);
  assert.match(String(s.client), /^127\.0\.0\.1:\d+$/);
  assert.equal(typeof s.duration_ms, "number");
});

test("a rewrite reaches the server as agi_request and agi_network_script", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const r = await agiCall({ port: p.port(), url: `agi://127.0.0.1:${p.port()}/ivr/menu?lang=fr` });
  assert.equal(r.status, "SUCCESS");
  const h = up.stats.headers[0]!.toString();
  assert.match(
    h,
    /^agi_network: yes\nagi_network_script: apps\/menu\?lang=fr\nagi_request: agi:\/\/127\.0\.0\.1:\d+\/apps\/menu\?lang=fr\nagi_channel: /,
  );
  const s = await p.waitForLog((l) => l.event === "session");
  assert.match(String(s.upstream_request), /\/apps\/menu\?lang=fr$/);
});

test("CRLF headers and an early HANGUP in the same write as the header are forwarded", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const crlf = Buffer.from(
    buildAsteriskHeader({ url: `agi://127.0.0.1:${p.port()}/x` })
      .toString("latin1")
      .replace(/\n/g, "\r\n"),
    "latin1",
  );
  const r = await agiCall({ port: p.port(), header: crlf, earlyHangup: true });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(up.stats.headers[0], crlf);
  await until(
    () => up.stats.afterHangup.length > 0 || up.stats.repliesSeen[0]?.includes("HANGUP") === true,
    2000,
    "HANGUP reached the upstream",
  );
});

test("520 multi-line replies, sent in pieces, reach the server whole", async () => {
  const up = await startAgiServer({ commands: ["BOGUS", "NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const usage = [
    "520-Invalid command syntax.  Proper usage follows:",
    "Usage: BOGUS",
    "520 End of proper usage.",
  ];
  const r = await agiCall({
    port: p.port(),
    url: `agi://127.0.0.1:${p.port()}/x`,
    reply: (c) => (c === "BOGUS" ? usage : "200 result=0"),
    fragment: { size: 7, delayMs: 2 },
  });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(up.stats.repliesSeen[0]?.slice(0, 4), [...usage, "200 result=0"]);
});

test("toward Asterisk only whole lines are written, however the upstream fragments them", async () => {
  const up = await startAgiServer({
    commands: ["NOOP", "GET VARIABLE FOO", 'EXEC Verbose "x"'],
    fragmentCommands: { size: 3, delayMs: 15 },
  });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const chunks: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port: p.port() }, () =>
      sock.write(buildAsteriskHeader({ url: `agi://127.0.0.1:${p.port()}/x` })),
    );
    const timer = setTimeout(() => reject(new Error("timeout")), 5000);
    let buf = "";
    sock.on("data", (d: Buffer) => {
      chunks.push(d.toString());
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        buf = buf.slice(nl + 1);
        sock.write("200 result=0\n");
        nl = buf.indexOf("\n");
      }
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    sock.on("error", reject);
  });
  assert.ok(chunks.length >= 3, `chunks: ${JSON.stringify(chunks)}`);
  for (const c of chunks)
    assert.ok(c.endsWith("\n"), `partial line written to Asterisk: ${JSON.stringify(c)}`);
  assert.deepEqual(chunks.join("").split("\n").filter(Boolean), [
    "NOOP",
    "GET VARIABLE FOO",
    'EXEC Verbose "x"',
  ]);
});

test("after Asterisk's HANGUP an upstream that never closes is closed after hangup_grace", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], neverClose: true });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const started = Date.now();
  const r = await agiCall({
    port: p.port(),
    url: `agi://127.0.0.1:${p.port()}/x`,
    hangupAfterCommands: 1,
    timeoutMs: 5000,
  });
  assert.equal(r.closedBy, "server");
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 2000, `closed after ${took}ms`);
  const s = await p.waitForLog((l) => l.event === "session");
  assert.equal(s.outcome, "hangup_grace_expired");
  await until(() => up.stats.active === 0, 2000, "upstream socket closed");
  assert.equal(p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active, 0);
});

test("either side closing closes the other, and no counter leaks", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 10_000 });
  cleanup.push(up.close);
  const p = await startProxy(config(up.port));
  cleanup.push(p.close);
  const sock = connect({ host: "127.0.0.1", port: p.port() });
  sock.write(buildAsteriskHeader({ url: `agi://127.0.0.1:${p.port()}/x` }));
  await until(() => up.stats.active === 1, 2000, "upstream session open");
  assert.equal(p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active, 1);
  sock.destroy();
  await until(() => up.stats.active === 0, 2000, "upstream closed after Asterisk left");
  await until(
    () => p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active === 0,
    2000,
    "count released",
  );
  assert.equal(p.proxy.runtime.activeSessions, 0);
});
