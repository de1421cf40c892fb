// SIP in the metrics (issue #13: "metrics by pool, server and final code"; "count dropped and
// malformed datagrams"): SIPp calls through a pool whose second server answers 503, malformed
// datagrams, then one scrape of the exposition.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { parsePromText, total, value } from "../helpers/prom-text.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, callThrough, sipConfig, sipListener, startAnswerers } from "../helpers/sip-proxy.ts";

const CALLS = 20;

test("SIP calls by pool, server and final code; failovers; dropped datagrams by reason", {
  timeout: 60_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-503.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const [good, busy] = uas.map((a) => `127.0.0.1:${a.port}`);
  const p = await startProxy(sipConfig(uas.map((a) => a.port)));
  t.after(() => p.close());
  const uac = await callThrough(p, {
    calls: CALLS,
    rate: 40,
    timeoutMs: 30_000,
  });
  assert.equal(uac.successful, CALLS, uac.errors);
  await until(() => callLines(p).length === CALLS, 10_000, "a line per call");
  const failedOver = callLines(p).filter((l) => l.failed_attempts !== undefined).length;
  assert.ok(failedOver > 0);
  // Three datagrams that are no SIP.
  const s = createSocket("udp4");
  t.after(() => s.close());
  for (const junk of ["hello", "INVITE\r\n\r\n", "SIP/2.0 abc\r\n\r\n"])
    s.send(Buffer.from(junk), p.port("sip"), "127.0.0.1");
  const m = p.proxy.metrics;
  assert.ok(m, "metrics are on");
  const l = sipListener(p);
  const malformed = () => [...l.malformed.values()].reduce((a, b) => a + b, 0);
  await until(() => malformed() === 3, 5_000, "three malformed datagrams counted");
  const e = parsePromText(await m.text());
  assert.equal(total(e, "trunkline_sip_dropped_total", { listener: "sip" }), 3);
  assert.equal(
    value(e, "trunkline_sip_dropped_total", { listener: "sip", reason: "malformed_bad_start_line" }),
    2,
  );
  const labels = { listener: "sip", protocol: "sip", route: "#1", pool: "fs" };
  assert.equal(
    value(e, "trunkline_sessions_total", { ...labels, server: good ?? "", outcome: "200" }),
    CALLS,
  );
  assert.equal(total(e, "trunkline_sessions_total", { server: busy ?? "" }), 0);
  assert.equal(value(e, "trunkline_upstream_failovers_total", { pool: "fs" }), failedOver);
  assert.equal(value(e, "trunkline_server_sessions_active", { server: good ?? "" }), 0);
});
