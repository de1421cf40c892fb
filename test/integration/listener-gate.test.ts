// A listener bound by a reload's first phase accepts connections before the reload is
// committed (worker threads all bind, then all commit). Found by takeover-load in a fresh-clone
// CI run: two sessions accepted by a new proxy's worker in that window got FAILURE
// ("runtime not started"). They now wait for the commit, then route with the new generation.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { Runtime } from "../../src/app/runtime.ts";
import { TrunklineError } from "../../src/core/errors.ts";
import type { HttpListener } from "../../src/protocols/http/listener.ts";
import type { SipListener } from "../../src/protocols/sip/listener.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { get, startOrigin } from "../helpers/http-origin.ts";
import { until } from "../helpers/proxy.ts";
import { serverReply, sipRequest, statusOf, udpPeer } from "../helpers/sip-attack.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

/**
 * A listener of `protocol` bound by a reload's first phase, not committed, over one server
 * (or the pool `main` as given, YAML flow style).
 */
async function preparedWith(t: TestContext, protocol: string, server: number, pool?: string) {
  const port = await freePort();
  const snap = parseConfigText(
    `listeners: [ { name: l, protocol: ${protocol}, listen: 127.0.0.1:${port} } ]
routes: [ { listener: l, pool: main } ]
pools: { main: ${pool ?? `{ servers: [ { address: 127.0.0.1:${server} } ] }`} }
`,
    "gate.yaml",
  );
  const rt = new Runtime();
  t.after(() => rt.close());
  const p = await rt.prepare(snap);
  assert.ok(!(p instanceof TrunklineError), String(p));
  const l = p.started[0];
  assert.ok(l);
  return { port, rt, p, l };
}

/** A FastAGI listener bound by a reload's first phase, not committed, over one NOOP server. */
async function prepared(t: TestContext) {
  const up = await startAgiServer({ commands: ["NOOP"] });
  t.after(() => up.close());
  return { up, ...(await preparedWith(t, "fastagi", up.port)) };
}

test("a session accepted between a reload's bind and its commit waits for the commit and is served", {
  timeout: 20_000,
}, async (t) => {
  const { up, port, rt, p, l } = await prepared(t);
  const call = agiCall({ port, url: "agi://x/y", timeoutMs: 8_000 });
  // The proxy has the session (header read, waiting to route) before the commit.
  await until(() => l.sessions === 1 && l.pending === 0, 5_000, "the session's header read");
  assert.equal(up.stats.sessions, 0, "nothing reached the server before the commit");
  rt.commit(p);
  const r = await call;
  assert.equal(r.status, "SUCCESS", JSON.stringify(r));
});

test("a reload that is aborted lets a waiting session go: it ends at once, without waiting forever", {
  timeout: 20_000,
}, async (t) => {
  const { up, port, rt, p, l } = await prepared(t);
  const started = Date.now();
  const call = agiCall({ port, url: "agi://x/y", timeoutMs: 8_000 });
  await until(() => l.sessions === 1 && l.pending === 0, 5_000, "the session's header read");
  await rt.abort(p);
  await call;
  // Closed by the aborted listener (Asterisk reads a close as the session's end), never routed.
  assert.ok(Date.now() - started < 5_000, `the session ended after ${Date.now() - started} ms`);
  assert.equal(up.stats.sessions, 0, "an aborted reload's listener routed a session");
});

test("HTTP: a request read between a reload's bind and its commit waits for the commit and is served", {
  timeout: 20_000,
}, async (t) => {
  const origin = await startOrigin(t, "o1");
  const { port, rt, p, l } = await preparedWith(t, "http", origin.port);
  const reply = get(port, "/early", { timeoutMs: 8_000 });
  await until(() => l.sessions === 1, 5_000, "the request's head read");
  assert.equal(origin.requests, 0, "nothing reached the origin before the commit");
  rt.commit(p);
  const r = await reply;
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).url, "/early");
  assert.equal((l as HttpListener).sessions, 0);
});

test("HTTP: a request in flight says when it began on the wall clock, as every protocol's sessions do", {
  timeout: 20_000,
}, async (t) => {
  const origin = await startOrigin(t, "o1");
  const { port, rt, p, l } = await preparedWith(t, "http", origin.port);
  const reply = get(port, "/now", { timeoutMs: 8_000 });
  await until(() => l.sessions === 1, 5_000, "the request's head read");
  // The system clock steps an hour ahead (NTP, an operator): ages are read against Date.now().
  const realNow = Date.now;
  const stepped = realNow() + 3_600_000;
  Date.now = () => stepped;
  let info: ReturnType<HttpListener["sessionsInfo"]>;
  try {
    info = (l as HttpListener).sessionsInfo(10);
  } finally {
    Date.now = realNow;
  }
  rt.commit(p);
  assert.equal((await reply).status, 200);
  const age = stepped - (info[0]?.startedAt ?? 0);
  assert.ok(age >= 0 && age < 5_000, `its age on the stepped clock: ${age} ms`);
});

test("HTTP: the wait for the commit is not taken from the request's total_timeout: its retry still goes", {
  timeout: 20_000,
}, async (t) => {
  const origin = await startOrigin(t, "o1");
  const dead = await freePort();
  // The first try is refused at once (nothing listens on `dead`); the retry goes to the backup,
  // if total_timeout (300 ms) has not run out: counted from the commit, it has not.
  const { port, rt, p, l } = await preparedWith(
    t,
    "http",
    origin.port,
    `{ total_timeout: 300ms, servers: [ { address: 127.0.0.1:${dead} }, { address: 127.0.0.1:${origin.port}, backup: true } ] }`,
  );
  const reply = get(port, "/late", { timeoutMs: 8_000 });
  await until(() => l.sessions === 1, 5_000, "the request's head read");
  // The commit comes later than the whole total_timeout after the request was read.
  const heldMs = 600;
  await new Promise((r) => setTimeout(r, heldMs));
  rt.commit(p);
  const r = await reply;
  assert.equal(r.status, 200, `the retry went to the backup: ${r.status} ${r.body.slice(0, 200)}`);
  assert.equal(JSON.parse(r.body).url, "/late");
});

test("SIP: an INVITE received between a reload's bind and its commit is handled at the commit", {
  timeout: 20_000,
}, async (t) => {
  const fs = await udpPeer(t, {
    answer: (d, peer) => {
      if (d.text.startsWith("INVITE ")) peer.send(serverReply(d.text, "486 Busy Here"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const { port, rt, p, l } = await preparedWith(t, "sip", fs.port);
  const sip = l as SipListener;
  const invite = sipRequest({
    method: "INVITE",
    uri: "sip:bob@example.com",
    via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-gate-1`,
    callId: "gate-1@test",
  });
  caller.send(invite, port);
  await until(() => (sip.udpStats?.received ?? 0) === 1, 5_000, "the INVITE received");
  assert.equal(fs.got.length, 0, "nothing reached the server before the commit");
  rt.commit(p);
  await until(() => caller.got.some((d) => statusOf(d.text) === 486), 5_000, "the 486 back at the caller");
  assert.equal(sip.udpStats?.handlerErrors, 0, "the early INVITE was not handled as an error");
  assert.equal(fs.got.filter((d) => d.text.startsWith("INVITE ")).length, 1);
});
