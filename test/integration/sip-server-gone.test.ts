// A server that dies while a call rings on it (issue #13: "tell a slow answer from a dead
// server"). Nothing listens on its port any more, so its OPTIONS pings are refused (ICMP port
// unreachable), its health goes down, and the INVITE ringing there moves on to the next server
// at once: the caller's call completes in a second or so, where it used to ring on until
// Timer C (181 s) and then get 408. A server whose pings only time out (overloaded, not dead)
// keeps its ringing calls (test/unit/sip-server-gone.test.ts).
import assert from "node:assert/strict";
import { createSocket, type RemoteInfo } from "node:dgram";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { ownerOf } from "../../src/protocols/sip/mesh-hand.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, startAnswerers } from "../helpers/sip-proxy.ts";
import { freeUdpPort, SIPP_SCENARIOS, startSipp } from "../helpers/sipp.ts";

/** A response echoing the request's Via, From, Call-ID, CSeq and Record-Route lines, To tagged. */
function answer(req: string, status: string): string {
  const lines = req.split("\r\n");
  const keep = lines.filter((l) => /^(via|v|from|f|call-id|i|cseq|record-route):/i.test(l));
  const to = lines.find((l) => /^(to|t):/i.test(l)) ?? "To: <sip:x@y>";
  return [`SIP/2.0 ${status}`, ...keep, `${to};tag=ringer1`, "Content-Length: 0", "", ""].join("\r\n");
}

/** SIPp's `-cid_str` giving call 1 a Call-ID that thread `owner` of `threads` owns (mesh-hand.ts). */
function cidFor(owner: number, threads: number): { cidStr: string; callId: string } {
  for (let k = 0; k < 1_000; k++) {
    const callId = `gone-1-${k}@127.0.0.1`;
    if (ownerOf(callId, threads) === owner) return { cidStr: `gone-%u-${k}@127.0.0.1`, callId };
  }
  throw new Error("no Call-ID found");
}

/**
 * `silentFirst`: the ringer stops answering pings before it dies, so its health goes down by
 * timeouts first (the call rings on: overload is not death), and the refusals come after.
 */
async function ringerDies(t: TestContext, top: string, threads: number, silentFirst = false): Promise<void> {
  const [good] = await startAnswerers(["uas-rr.xml"]);
  assert.ok(good);
  t.after(() => good.run.kill());
  // The ringer answers OPTIONS 200 and an INVITE 180, never more; then it dies (its socket closes).
  const ringer = createSocket("udp4");
  await new Promise<void>((r) => ringer.bind(0, "127.0.0.1", () => r()));
  const ringerPort = ringer.address().port;
  let closed = false;
  const closeRinger = () => {
    if (!closed) ringer.close();
    closed = true;
  };
  t.after(closeRinger);
  let rang = 0;
  let answerPings = true;
  ringer.on("message", (m: Buffer, from: RemoteInfo) => {
    const text = m.toString("latin1");
    const method = text.slice(0, text.indexOf(" "));
    const reply = (s: string) => ringer.send(Buffer.from(answer(text, s), "latin1"), from.port, from.address);
    if (method === "OPTIONS") {
      if (answerPings) reply("200 OK");
    } else if (method === "INVITE") {
      rang++;
      reply("180 Ringing");
    }
  });
  const p = await startProxy(`${top}
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    invite_timeout: 2s
    servers: [ { address: 127.0.0.1:${ringerPort} }, { address: 127.0.0.1:${good.port}, backup: true } ]
    health: { checks: [ sip-options ], interval: 100ms, timeout: 1s, rise: 1, fall: 2 }
`);
  t.after(() => p.close());
  if (threads > 1 && reusePortSupported()) assert.equal(p.proxy.threads.threads, threads);
  const cid = cidFor(threads - 1, threads);
  const ringerKey = `127.0.0.1:${ringerPort}`;
  const entry = () => p.proxy.runtime.registry.get(ringerKey);
  await until(
    () => entry()?.health === "up" && entry()?.lastProbe?.ok === true,
    10_000,
    "the ringer's pings answered",
  );
  const uac = startSipp({
    scenario: join(SIPP_SCENARIOS, "uac-rr.xml"),
    remote: { host: "127.0.0.1", port: p.port("sip") },
    localPort: await freeUdpPort(),
    calls: 1,
    rate: 1,
    timeoutMs: 30_000,
    // Thread 0 is the main thread: with 2, the call lives on the worker.
    extraArgs: ["-cid_str", cid.cidStr],
  });
  t.after(() => uac.kill());
  let settled = false;
  void uac.done.then(() => {
    settled = true;
  });
  await until(() => rang === 1, 10_000, "the call rings on the ringer (the primary)");
  if (silentFirst) {
    answerPings = false;
    await until(() => entry()?.health === "down", 10_000, "the silent ringer down by timeouts");
    assert.match(entry()?.healthReason ?? "", /no answer/);
    assert.equal(settled, false, "a server down by timeouts keeps the call ringing there");
  }
  closeRinger();
  const diedAt = Date.now();
  const r = await uac.done;
  const tookMs = Date.now() - diedAt;
  const detail = `${r.errors}\n${r.output.slice(-1500)}`;
  assert.equal(r.successful, 1, detail);
  assert.equal(entry()?.health, "down");
  assert.match(entry()?.healthReason ?? "", /refused/);
  // Fall 2 at 100 ms, then the backup's answer: well under the 30 s SIPp waits, let alone Timer C.
  assert.ok(tookMs < 10_000, `${tookMs} ms from the ringer's death to the call's completion`);
  await until(() => callLines(p).length === 1, 10_000, "the call's line");
  const line = callLines(p)[0];
  assert.equal(line?.call_id, cid.callId);
  assert.equal(line?.server, `127.0.0.1:${good.port}`);
  assert.equal(line?.final_code, 200);
  const failed = line?.failed_attempts as { server: string; error: string }[] | undefined;
  assert.equal(failed?.[0]?.server, ringerKey, JSON.stringify(line));
  assert.match(failed?.[0]?.error ?? "", /^server gone: sip-options: refused/);
  t.diagnostic(`completed ${tookMs} ms after the ringer died (${p.proxy.threads.threads} thread(s))`);
}

test(
  "a call ringing on a server whose pings are then refused fails over to the next server at once",
  {
    timeout: 60_000,
  },
  (t) => ringerDies(t, "", 1),
);

// With listener threads (Node >= 22.12), the call lives on the thread that owns its Call-ID,
// here the worker: it hears of the death from the state the main thread sends it
// (servers/mirror.ts). On an older Node, `workers: 2` runs one thread and this repeats the above.
test("the same with 2 listener threads, the call on the worker", { timeout: 60_000 }, (t) =>
  ringerDies(t, "workers: 2", 2),
);

// Down by timeouts first (an overloaded box), then dead: the refusals that follow say so anew
// (ServerEntry.restateHealth), and the call still ringing there moves on, not at Timer C.
test(
  "a call ringing on a server down by timeouts whose pings are then refused fails over at once",
  { timeout: 60_000 },
  (t) => ringerDies(t, "", 1, true),
);

test(
  "the same, down by timeouts first, with 2 listener threads, the call on the worker",
  { timeout: 60_000 },
  (t) => ringerDies(t, "workers: 2", 2, true),
);
