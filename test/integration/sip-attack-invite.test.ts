// Attacks on a running Trunkline SIP listener through the INVITE path and its servers: a
// server that rings only after failover moved on, odd Max-Forwards values, a calls table
// pushed past max_calls by unanswered INVITEs. Hand-written UDP peers on loopback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import {
  type Datagram,
  methodOf,
  serverReply,
  sipRequest,
  sleep,
  statusOf,
  type UdpPeer,
  udpPeer,
  within,
} from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

// A defect found by attacking the proxy, fixed: a branch abandoned on invite_timeout that rings afterwards is never CANCELled (invite-branch.ts: abandon() sets state "abandoned", so provisional() is a no-op and cancel() only parks a pending CANCEL that nothing ever sends).
test("a server that rings only after invite_timeout moved the call on gets a CANCEL for its late 1xx", {
  timeout: 20_000,
}, async (t) => {
  const INVITE_TIMEOUT = 200;
  // Whichever server gets the INVITE first stays silent past invite_timeout, then rings;
  // the second rings at once. Neither ever answers finally: the caller is still ringing.
  let first: UdpPeer | undefined;
  let lateRingAt = 0;
  const behave = (d: Datagram, p: UdpPeer) => {
    if (methodOf(d.text) === "CANCEL") {
      p.send(serverReply(d.text, "200 OK"), d.from.port);
      return;
    }
    if (methodOf(d.text) !== "INVITE") return;
    if (p.got.filter((x) => methodOf(x.text) === "INVITE").length > 1) return;
    if (first === undefined) {
      first = p;
      setTimeout(() => {
        lateRingAt = Date.now();
        p.send(serverReply(d.text, "180 Ringing"), d.from.port);
      }, INVITE_TIMEOUT * 4);
    } else p.send(serverReply(d.text, "180 Ringing"), d.from.port);
  };
  const a = await udpPeer(t, { answer: behave });
  const b = await udpPeer(t, { answer: behave });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([a.port, b.port], `    invite_timeout: ${INVITE_TIMEOUT}ms\n`));
  t.after(() => p.close());
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKlate1;rport`,
      callId: "late-ring-1",
    }),
    p.port("sip"),
  );
  await until(() => lateRingAt > 0, 5_000, "the late 180");
  const late = first as UdpPeer | undefined;
  assert.ok(late);
  const cancelled = await within(3_000, () => late.got.some((d) => methodOf(d.text) === "CANCEL"));
  t.diagnostic(
    `late server got ${JSON.stringify(late.starts().map((s) => s.split(" ")[0]))}; caller got ${JSON.stringify(caller.starts())}`,
  );
  assert.ok(cancelled, "no CANCEL reached the server that rang after the call had moved on");
  // The caller heard only the server that has the call.
  assert.equal(caller.got.filter((d) => statusOf(d.text) === 180).length, 1);
});

// A defect found by attacking the proxy, fixed: Max-Forwards above 4294967295 (\d{1,10} passes validation) gets 483 Too Many Hops (edit.ts setMaxForwards refuses n-1, and initial-invite.ts/forward.ts map any decrement error to 483); §16.3 step 3 passes any value above 0.
test("Max-Forwards 9999999999 is not 'too many hops': the INVITE is forwarded (or refused 400), never 483", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "486 Busy Here"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKmf1;rport`,
      callId: "mf-huge-1",
      maxForwards: "9999999999",
    }),
    p.port("sip"),
  );
  await within(3_000, () => caller.got.some((d) => statusOf(d.text) >= 300));
  const finals = caller.got.map((d) => statusOf(d.text)).filter((s) => s >= 200);
  t.diagnostic(`caller got ${JSON.stringify(caller.starts())}; server got ${server.got.length}`);
  assert.ok(!finals.includes(483), `answered 483 to Max-Forwards 9999999999: ${JSON.stringify(finals)}`);
  assert.ok(
    server.got.some((d) => methodOf(d.text) === "INVITE") || finals.includes(400),
    "neither forwarded nor refused as malformed",
  );
});

test("Max-Forwards 0, negative, non-numeric: 483, 400, 400; none reaches the server (covers §16.3 on the running proxy)", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const cases = [
    ["0", 483],
    ["-1", 400],
    ["abc", 400],
    ["1 1", 400],
  ] as const;
  for (const [i, [mf]] of cases.entries()) {
    caller.send(
      sipRequest({
        method: "INVITE",
        uri: "sip:bob@example.com",
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKmf2-${i};rport`,
        callId: `mf-odd-${i}`,
        maxForwards: mf,
      }),
      p.port("sip"),
    );
  }
  await until(() => caller.got.length >= cases.length, 5_000, "an answer each");
  await sleep(200);
  const byCall = new Map(caller.got.map((d) => [headerLines(d.text, "Call-ID")[0], statusOf(d.text)]));
  for (const [i, [, status]] of cases.entries()) assert.equal(byCall.get(`mf-odd-${i}`), status, `case ${i}`);
  assert.equal(server.got.length, 0);
});

test("INVITEs with fresh Call-IDs that no server answers: the calls table stays within max_calls, the rest get 503 (covers max_calls on the running proxy)", {
  timeout: 20_000,
}, async (t) => {
  const MAX = 5;
  const N = 60;
  const server = await udpPeer(t);
  const caller = await udpPeer(t);
  const p = await startProxy(
    sipConfig([server.port], "    invite_timeout: 3s\n", `, max_calls: ${MAX}, call_timeout: 10s`),
  );
  t.after(() => p.close());
  const l = sipListener(p);
  let peak = 0;
  let peakTx = 0;
  for (let i = 0; i < N; i++) {
    caller.send(
      sipRequest({
        method: "INVITE",
        uri: "sip:bob@example.com",
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKflood-${i};rport`,
        callId: `flood-${i}`,
      }),
      p.port("sip"),
    );
    peak = Math.max(peak, l.sessions);
    peakTx = Math.max(peakTx, l.proxy?.transactions ?? 0);
    if (i % 10 === 9) await sleep(5);
  }
  const refused = () => caller.got.filter((d) => statusOf(d.text) === 503).length;
  await until(() => refused() >= N - MAX, 5_000, `${N - MAX} refusals`);
  peak = Math.max(peak, l.sessions);
  peakTx = Math.max(peakTx, l.proxy?.transactions ?? 0);
  const invited = new Set(
    server.got.filter((d) => methodOf(d.text) === "INVITE").map((d) => headerLines(d.text, "Call-ID")[0]),
  );
  t.diagnostic(`peak calls ${peak}, peak transactions ${peakTx}, server saw ${invited.size} calls`);
  assert.ok(peak <= MAX, `calls table reached ${peak}`);
  assert.ok(peakTx <= MAX, `transactions reached ${peakTx}`);
  assert.equal(invited.size, MAX);
  for (const d of caller.got.filter((x) => statusOf(x.text) === 503))
    assert.deepEqual(headerLines(d.text, "Retry-After"), ["5"]);
  // invite_timeout ends each: the table empties, and the proxy takes calls again.
  await until(() => l.sessions === 0, 8_000, "the calls table empty again");
});

test("a retransmission storm of one INVITE and a CANCEL flood: one INVITE and one CANCEL reach the server, every copy is answered one for one (covers absorption on the running proxy)", {
  timeout: 20_000,
}, async (t) => {
  // The server rings; a CANCEL gets 200 and the INVITE its 487.
  const server = await udpPeer(t, {
    answer: (d, p) => {
      const m = methodOf(d.text);
      if (m === "INVITE") p.send(serverReply(d.text, "180 Ringing"), d.from.port);
      if (m === "CANCEL") {
        p.send(serverReply(d.text, "200 OK"), d.from.port);
        const invite = p.got.find((x) => methodOf(x.text) === "INVITE");
        if (invite) p.send(serverReply(invite.text, "487 Request Terminated"), d.from.port);
      }
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const spec = {
    uri: "sip:bob@example.com",
    via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKstorm;rport`,
    callId: "storm-1",
  };
  const invite = sipRequest({ method: "INVITE", ...spec });
  caller.send(invite, port);
  await until(() => caller.got.some((d) => statusOf(d.text) === 180), 5_000, "ringing");
  const STORM = 300;
  for (let i = 0; i < STORM; i++) {
    caller.send(invite, port);
    if (i % 50 === 49) await sleep(2);
  }
  await until(() => caller.got.length >= 2 + STORM, 5_000, "an answer per retransmission");
  for (let i = 0; i < STORM; i++) {
    caller.send(sipRequest({ method: "CANCEL", ...spec }), port);
    if (i % 50 === 49) await sleep(2);
  }
  await until(() => caller.got.some((d) => statusOf(d.text) === 487), 5_000, "the 487");
  await sleep(700);
  const count = (m: string) => server.got.filter((d) => methodOf(d.text) === m).length;
  const cancels200 = caller.got.filter((d) => statusOf(d.text) === 200 && d.text.includes("CANCEL")).length;
  t.diagnostic(
    `server got ${count("INVITE")} INVITE, ${count("CANCEL")} CANCEL, ${count("ACK")} ACK; caller got ${caller.got.length} answers`,
  );
  assert.equal(count("INVITE"), 1);
  assert.equal(count("CANCEL"), 1);
  assert.equal(cancels200, STORM, "each CANCEL gets its 200 (hop by hop)");
  assert.ok(caller.got.length <= 2 + STORM + STORM + 12, `${caller.got.length} answers: more out than in`);
});

test("a server's 503 goes up as 500 when 503 is no failover code; a 6xx ends the call without trying the next server (covers §16.7 on the running proxy)", {
  timeout: 20_000,
}, async (t) => {
  const answerWith = (status: string) => (d: Datagram, p: UdpPeer) => {
    if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, status), d.from.port);
  };
  const s503 = await udpPeer(t, { answer: answerWith("503 Service Unavailable") });
  const s600 = await udpPeer(t, { answer: answerWith("600 Busy Everywhere") });
  const spare = await udpPeer(t, { answer: answerWith("200 OK") });
  const caller = await udpPeer(t);
  const one = await startProxy(sipConfig([s503.port], "    failover_codes: [408]\n"));
  t.after(() => one.close());
  const two = await startProxy(sipConfig([s600.port, spare.port]));
  t.after(() => two.close());
  const inv = (n: number) =>
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKcode${n};rport`,
      callId: `code-${n}`,
    });
  caller.send(inv(1), one.port("sip"));
  caller.send(inv(2), two.port("sip"));
  const finalOf = (id: string) =>
    caller.got.find((d) => headerLines(d.text, "Call-ID")[0] === id && statusOf(d.text) >= 200);
  await until(() => finalOf("code-1") !== undefined && finalOf("code-2") !== undefined, 5_000, "both finals");
  await sleep(300);
  assert.equal(statusOf(finalOf("code-1")?.text ?? ""), 500);
  assert.equal(statusOf(finalOf("code-2")?.text ?? ""), 600);
  assert.equal(spare.got.length, 0, "a 6xx must not be failed over");
});
