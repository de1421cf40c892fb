import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { after, test } from "node:test";
import { probeSipOptions } from "../../src/health/sip-options-probe.ts";
import { sipResponse, startOptionsResponder } from "../helpers/sip-options-responder.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function responder(status: number | undefined) {
  const r = await startOptionsResponder(status);
  cleanup.push(() => r.close());
  return r;
}

test("sip-options probe: 200, 404 and 503 answers all mean alive (Kamailio's dispatcher rule)", async () => {
  for (const status of [200, 404, 503]) {
    const r = await responder(status);
    const res = await probeSipOptions({ host: "127.0.0.1", port: r.port, timeoutMs: 5000 });
    assert.deepEqual(res, { ok: true, status });
    assert.equal(r.hits, 1);
  }
});

test("sip-options probe: a stray answer and a 100 Trying are waited past; the matching final answer counts", async () => {
  const r = await responder(486);
  r.before.push(
    (req) =>
      sipResponse(req, 200, "OK", "Via: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKstray\r\nCall-ID: stray\r\n"),
    (req) => sipResponse(req, 100, "Trying"),
  );
  const res = await probeSipOptions({ host: "127.0.0.1", port: r.port, timeoutMs: 5000 });
  assert.deepEqual(res, { ok: true, status: 486 });
});

test("sip-options probe: silence is a failure after the timeout", async () => {
  const r = await responder(undefined);
  const t0 = performance.now();
  const res = await probeSipOptions({ host: "127.0.0.1", port: r.port, timeoutMs: 300 });
  const ms = performance.now() - t0;
  assert.deepEqual(res, { ok: false, reason: "sip-options: no answer within 300ms" });
  assert.ok(ms >= 290, `waited ${ms}ms`);
  assert.equal(r.hits, 1);
});

test("sip-options probe: a closed port is refused at once (ICMP port unreachable), not a timeout", async () => {
  const s = createSocket("udp4");
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  const port = s.address().port;
  s.close();
  const t0 = performance.now();
  const res = await probeSipOptions({ host: "127.0.0.1", port, timeoutMs: 10_000 });
  const ms = performance.now() - t0;
  assert.deepEqual(res, { ok: false, reason: "sip-options: refused (ICMP port unreachable)" });
  assert.ok(ms < 5000, `refused after ${ms}ms, far under the 10 s timeout`);
});

test("sip-options probe: a name that does not resolve is a failure, not a throw", async () => {
  const res = await probeSipOptions({ host: "no-such-host.invalid", port: 5060, timeoutMs: 5000 });
  assert.equal(res.ok, false);
  assert.match((res as { reason: string }).reason, /^sip-options: /);
});
