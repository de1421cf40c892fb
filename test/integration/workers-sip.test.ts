// SIP over UDP with worker threads: every thread binds the SIP port, the kernel spreads
// datagrams by source address, and each message is handed to the thread that owns its
// Call-ID, where its INVITE transaction and call record live.
import assert from "node:assert/strict";
import { test } from "node:test";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { ownerOf } from "../../src/protocols/sip/listener.ts";
import { runsOnEveryThread } from "../../src/protocols/threads.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, callThrough, sipConfig, sipListener, startAnswerers } from "../helpers/sip-proxy.ts";

const CALLS = 60;

test("a Call-ID's thread: stable, and spread over the threads", () => {
  const seen = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const id = `${i}-abc@10.0.0.1`;
    const t = ownerOf(id, 4);
    assert.equal(ownerOf(id, 4), t);
    seen.set(t, (seen.get(t) ?? 0) + 1);
  }
  assert.equal(seen.size, 4);
  for (const n of seen.values()) assert.ok(n > 150 && n < 350, JSON.stringify([...seen]));
});

test("SIP over UDP runs on every thread; SIP with TCP or TLS on the main thread only; FastAGI and HTTP everywhere", () => {
  const cfg = (protocol: string, transports?: string[]) =>
    ({ protocol, options: transports ? { transports } : {} }) as unknown as Parameters<
      typeof runsOnEveryThread
    >[0];
  assert.equal(runsOnEveryThread(cfg("sip", ["udp"])), true);
  assert.equal(runsOnEveryThread(cfg("sip", ["udp", "tcp"])), false);
  assert.equal(runsOnEveryThread(cfg("sip", ["tls"])), false);
  assert.equal(runsOnEveryThread(cfg("fastagi")), true);
  assert.equal(runsOnEveryThread(cfg("http")), true);
});

test("SIPp calls over UDP through 2 listener threads: all complete, each thread owns some, counts back to 0", {
  timeout: 90_000,
}, async (t) => {
  const uas = await startAnswerers(["uas-rr.xml", "uas-rr.xml"]);
  t.after(async () => {
    for (const a of uas) await a.run.kill();
  });
  const p = await startProxy(`workers: 2\n${sipConfig(uas.map((a) => a.port))}`);
  t.after(() => p.close());
  if (!reusePortSupported()) {
    // One thread, as on every Node without SO_REUSEPORT: the calls still go through.
    assert.equal(p.proxy.threads.threads, 1);
  }
  const uac = await callThrough(p, { calls: CALLS, rate: 60, timeoutMs: 60_000 });
  const detail = `${uac.errors}\n${uac.output.slice(-2000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  assert.equal(uac.failed, 0, detail);
  await until(() => callLines(p).length === CALLS, 15_000, "a log line per call");
  for (const r of callLines(p)) {
    assert.equal(r.final_code, 200);
    assert.equal(r.end, "bye");
  }
  assert.equal(sipListener(p).sessions, 0);
  const entries = [...p.proxy.runtime.registry.entries()];
  await until(() => entries.every((e) => e.active === 0), 5_000, "every call's slot given back");
  if (reusePortSupported()) {
    const view = p.proxy.threads.view();
    assert.equal(view.length, 2);
    for (const v of view)
      assert.ok(v.started > 0, `thread ${v.worker} owned no call: ${JSON.stringify(view)}`);
    assert.equal(
      view.reduce((a, v) => a + v.started, 0),
      CALLS,
    );
  }
  for (const a of uas) assert.equal((await a.run.kill()).errors, "");
});
