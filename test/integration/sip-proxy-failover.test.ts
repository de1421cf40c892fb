// Failover of initial INVITEs through Trunkline's SIP listener: a server answering 503 or not
// answering at all costs the caller nothing but time; a CANCEL of a ringing call reaches the
// server that rings, and the caller gets its 487.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, sipConfig, sipListener, startAnswerers } from "../helpers/sip-proxy.ts";
import { freeUdpPort, runSipp, SIPP_SCENARIOS } from "../helpers/sipp.ts";

async function call(port: number, scenario: string, calls: number, rate: number) {
  return runSipp({
    scenario: join(SIPP_SCENARIOS, scenario),
    remote: { host: "127.0.0.1", port },
    localPort: await freeUdpPort(),
    calls,
    rate,
    timeoutMs: 40_000,
  });
}

test("a server answering 503: its calls fail over to the other, none lost, the 503 never reaches the caller", {
  timeout: 60_000,
}, async (t) => {
  const [bad, good] = await startAnswerers(["uas-503.xml", "uas-rr.xml"]);
  t.after(async () => {
    await bad?.run.kill();
    await good?.run.kill();
  });
  assert.ok(bad && good);
  const p = await startProxy(sipConfig([bad.port, good.port]));
  t.after(() => p.close());
  const CALLS = 20;
  const uac = await call(p.port("sip"), "uac-rr.xml", CALLS, 20);
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  await until(() => callLines(p).length === CALLS, 10_000, "a log line per call");
  const lines = callLines(p);
  const failedOver = lines.filter((r) => Array.isArray(r.failed_attempts));
  for (const r of lines) {
    assert.equal(r.server, `127.0.0.1:${good.port}`);
    assert.equal(r.final_code, 200);
  }
  // Round robin sent the first call to the 503 server; passive health (max_fails 3) then took it out.
  assert.ok(failedOver.length >= 1, JSON.stringify(lines.slice(0, 3)));
  const first = (failedOver[0]?.failed_attempts as { server: string; error: string }[] | undefined)?.[0];
  assert.deepEqual(first?.server, `127.0.0.1:${bad.port}`);
  assert.equal(first?.error, "answered 503");
  t.diagnostic(`${CALLS} calls, ${failedOver.length} failed over from the 503 server`);
});

test("a server that never answers: invite_timeout moves the call on, no CANCEL is sent to it", {
  timeout: 60_000,
}, async (t) => {
  const [good] = await startAnswerers(["uas-rr.xml"]);
  assert.ok(good);
  const silent = createSocket("udp4");
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
  const seen = { INVITE: 0, CANCEL: 0, other: 0 };
  silent.on("message", (m) => {
    const method = m.toString("latin1").split(" ")[0] ?? "";
    if (method === "INVITE" || method === "CANCEL") seen[method]++;
    else seen.other++;
  });
  t.after(async () => {
    silent.close();
    await good.run.kill();
  });
  const p = await startProxy(sipConfig([silent.address().port, good.port]));
  t.after(() => p.close());
  const CALLS = 4;
  const started = Date.now();
  const uac = await call(p.port("sip"), "uac-rr.xml", CALLS, 10);
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  await until(() => callLines(p).length === CALLS, 10_000, "a log line per call");
  const failedOver = callLines(p).filter((r) => Array.isArray(r.failed_attempts));
  assert.ok(failedOver.length >= 1);
  for (const r of failedOver) {
    const [f] = r.failed_attempts as { server: string; error: string }[];
    assert.equal(f?.error, "no provisional reply within 2000ms");
    assert.ok(Number(r.setup_ms) >= 2000, `setup ${r.setup_ms} ms`);
  }
  // Timer A retransmitted the INVITE to it (0, 500, 1500 ms), and no CANCEL ever followed.
  assert.ok(seen.INVITE >= 2 * failedOver.length, JSON.stringify(seen));
  assert.equal(seen.CANCEL, 0);
  t.diagnostic(
    `${CALLS} calls in ${Date.now() - started} ms, ${failedOver.length} failed over; silent server got ${JSON.stringify(seen)}`,
  );
});

test("CANCEL of a ringing call reaches the ringing server; the caller gets 487", {
  timeout: 60_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-ring.xml", "uas-ring.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const p = await startProxy(sipConfig(uas.map((a) => a.port)));
  t.after(() => p.close());
  const CALLS = 10;
  const uac = await call(p.port("sip"), "uac-cancel.xml", CALLS, 20);
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  await until(() => callLines(p).length === CALLS, 10_000, "a log line per call");
  for (const r of callLines(p)) {
    assert.equal(r.final_code, 487);
    assert.equal(r.end, "rejected");
  }
  assert.equal(sipListener(p).sessions, 0);
  // Each answerer got only what it expected: INVITE, then the CANCEL of its own call, then the ACK.
  for (const a of uas) assert.equal((await a.run.kill()).errors, "");
});
