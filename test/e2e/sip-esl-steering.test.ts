// FreeSWITCH's event socket steering real SIPp calls through Trunkline (issue #13, "Health"):
// two SIPp answerers stand for two FreeSWITCH boxes, each with a simulated event socket
// (test/helpers/freeswitch-esl.ts) named by `esl:` in the pool. Heartbeats send new calls to
// the least loaded box, a box at Max-Sessions gets none, and a box whose heartbeats stop is
// marked down and gets none.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SipListener } from "../../src/protocols/sip/listener.ts";
import { type FakeFreeSwitch, startFakeFreeSwitch } from "../helpers/freeswitch-esl.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { callLines, callThrough, startAnswerers } from "../helpers/sip-proxy.ts";

const CALLS = 20;

async function calls(p: TestProxy): Promise<Map<string, number>> {
  const before = callLines(p).length;
  const uac = await callThrough(p, {
    calls: CALLS,
    rate: 50,
    timeoutMs: 30_000,
  });
  // The proxy's side of a short count: its call lines so far and what it dropped, and why.
  const proxySide = () => {
    const got = callLines(p).slice(before);
    const l = p.proxy.runtime.listener("sip") as SipListener;
    return (
      `${got.length} lines (${JSON.stringify(got.map((r) => [r.end, r.final_code]))}), ` +
      `${l.sessions} calls open, dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}, ` +
      `answered ${JSON.stringify([...(l.proxy?.stats.answered ?? [])])}`
    );
  };
  assert.equal(uac.successful, CALLS, `${proxySide()}\n${uac.errors}\n${uac.output.slice(-1500)}`);
  await until(() => callLines(p).length >= before + CALLS, 10_000, "a log line per call").catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${proxySide()}`);
    },
  );
  const lines = callLines(p).slice(before);
  assert.equal(lines.length, CALLS, JSON.stringify(lines.map((r) => [r.call_id, r.end])));
  const by = new Map<string, number>();
  for (const r of lines) by.set(String(r.server), (by.get(String(r.server)) ?? 0) + 1);
  return by;
}

test("ESL heartbeats steer calls: least loaded first, none to a full box, none to a silent one", {
  timeout: 90_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  const fs: FakeFreeSwitch[] = [await startFakeFreeSwitch(), await startFakeFreeSwitch()];
  t.after(async () => {
    for (const a of uas) await a.run.kill();
    for (const f of fs) await f.close();
  });
  const [a, b] = uas.map((u) => `127.0.0.1:${u.port}`);
  const p = await startProxy(`
admin: { listen: 127.0.0.1:0 }
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    balance: least-sessions
    servers:
${uas.map((u, i) => `      - { address: 127.0.0.1:${u.port}, esl: { port: ${fs[i]?.port}, heartbeat_timeout: 3s } }`).join("\n")}
`);
  t.after(() => p.close());
  await until(() => fs.every((f) => f.subscribers === 1), 10_000, "both event sockets subscribed");
  const entry = (key: string | undefined) => p.proxy.runtime.registry.get(key ?? "");
  const beat = (i: number, sessionCount: number, idleCpu: number) =>
    fs[i]?.heartbeat({ sessionCount, maxSessions: 1000, idleCpu });

  // Each phase keeps both boxes beating (every 300 ms), so that a phase slowed down by a busy
  // machine never outlives the 3 s watchdog: with both boxes silent, "overload is not death"
  // would spread the calls over both (seen once under two CPU hogs).
  let keep: NodeJS.Timeout | undefined;
  t.after(() => clearInterval(keep));
  const phase = (beats: [number, number, number][]) => {
    clearInterval(keep);
    const all = () => {
      for (const [i, sc, idle] of beats) beat(i, sc, idle);
    };
    all();
    keep = setInterval(all, 300);
  };

  // A: 100 of 1000 sessions, 90% idle (score 81); B: 500 sessions, 40% idle (score 20).
  phase([
    [0, 100, 90],
    [1, 500, 40],
  ]);
  await until(() => entry(a)?.load?.sessionCount === 100 && entry(b)?.load?.sessionCount === 500);
  assert.deepEqual([...(await calls(p))], [[a, CALLS]]);

  // A full (1000 of 1000), B idle: every call to B.
  phase([
    [0, 1000, 90],
    [1, 10, 95],
  ]);
  await until(() => entry(a)?.load?.sessionCount === 1000 && entry(b)?.load?.sessionCount === 10);
  assert.deepEqual([...(await calls(p))], [[b, CALLS]]);

  // B falls silent, A has room again and keeps beating: B is marked down, every call to A.
  phase([[0, 50, 90]]);
  await until(() => entry(b)?.eslDown !== undefined, 10_000, "the silent box marked down");
  assert.match(entry(b)?.eslDown ?? "", /no heartbeat/);
  assert.deepEqual([...(await calls(p))], [[a, CALLS]]);
  // The admin API shows each box's event-socket layer: the report, the calls sent since, the silence.
  const res = await fetch(`http://127.0.0.1:${p.proxy.adminAddress?.port}/api/v1/pools/fs`);
  const pool = (await res.json()) as {
    servers: {
      address: string;
      layers: { esl: { down: string | null; report: { session_count: number } | null } };
    }[];
  };
  const view = new Map(pool.servers.map((s) => [s.address, s.layers.esl]));
  assert.equal(view.get(a ?? "")?.down, null);
  assert.equal(view.get(a ?? "")?.report?.session_count, 50);
  assert.match(view.get(b ?? "")?.down ?? "", /no heartbeat/);
});
