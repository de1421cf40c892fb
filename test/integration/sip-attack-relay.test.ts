// Attempts to use a running Trunkline SIP listener as an open relay: requests that name a
// third host in their Request-URI or Route, in-dialog requests for dialogs that never went
// through it, route tokens moved to another Call-ID or signed for a host no pool lists
// (with the derived key anyone with the config can compute), and forged responses.
// No request may reach a third host; a forged response may be relayed along its Via as
// RFC 3261 §16.7/§16.11 want, but one for one and no larger. These all hold today: coverage.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rrKey } from "../../src/protocols/sip/config.ts";
import { signServer } from "../../src/protocols/sip/rr-token.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import {
  methodOf,
  serverReply,
  sipRequest,
  sleep,
  statusOf,
  udpPeer,
  within,
} from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

test("initial INVITE, OPTIONS, REGISTER and MESSAGE naming a third host (Request-URI, Route, strict route) reach only pool servers", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      const m = methodOf(d.text);
      if (m !== "SIP/2.0" && m !== "ACK") p.send(serverReply(d.text, "404 Not Found"), d.from.port);
    },
  });
  const third = await udpPeer(t, { host: "127.0.0.3" });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const elsewhere = `127.0.0.3:${third.port}`;
  const cases: { method: string; uri: string; extra?: string[] }[] = [
    { method: "INVITE", uri: `sip:victim@${elsewhere}` },
    { method: "OPTIONS", uri: `sip:${elsewhere}` },
    { method: "REGISTER", uri: `sip:${elsewhere}` },
    { method: "MESSAGE", uri: "sip:bob@example.com", extra: [`Route: <sip:${elsewhere};lr>`] },
    // A strict router's shape: the Request-URI is us, the last Route the real target.
    { method: "OPTIONS", uri: `sip:127.0.0.1:${port}`, extra: [`Route: <sip:${elsewhere}>`] },
    { method: "INVITE", uri: `sip:127.0.0.1:${port}`, extra: [`Route: <sip:${elsewhere}>`] },
  ];
  for (const [i, c] of cases.entries()) {
    caller.send(
      sipRequest({
        method: c.method,
        uri: c.uri,
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKrelay-${i};rport`,
        callId: `relay-${i}`,
        ...(c.extra ? { extra: c.extra } : {}),
      }),
      port,
    );
  }
  const finals = () => caller.got.filter((d) => statusOf(d.text) >= 200).length;
  await until(() => finals() >= cases.length, 8_000, "a final answer to each");
  await sleep(300);
  t.diagnostic(`caller got ${JSON.stringify(caller.starts())}`);
  assert.deepEqual(third.starts(), [], "the third host got something");
  assert.ok(server.got.length >= cases.length);
});

test("BYE, ACK, INFO and CANCEL of dialogs that never existed: answered 403/481 or dropped, forwarded nowhere", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const third = await udpPeer(t, { host: "127.0.0.3" });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const elsewhere = `127.0.0.3:${third.port}`;
  const cases: { method: string; toTag?: string; extra?: string[]; want: number | undefined }[] = [
    { method: "BYE", toTag: "x", want: 403 },
    { method: "BYE", toTag: "x", extra: [`Route: <sip:${elsewhere};lr>`], want: 403 },
    { method: "INFO", toTag: "x", want: 403 },
    { method: "ACK", toTag: "x", extra: [`Route: <sip:${elsewhere};lr>`], want: undefined },
    { method: "CANCEL", want: 481 },
    // Our own Route, no token: nothing says where it goes.
    {
      method: "BYE",
      toTag: "x",
      extra: [`Route: <sip:127.0.0.1:${port};lr>, <sip:${elsewhere};lr>`],
      want: 403,
    },
  ];
  for (const [i, c] of cases.entries()) {
    caller.send(
      sipRequest({
        method: c.method,
        uri: `sip:bob@${elsewhere}`,
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKghost-${i};rport`,
        callId: `ghost-${i}`,
        ...(c.toTag ? { toTag: c.toTag } : {}),
        ...(c.extra ? { extra: c.extra } : {}),
      }),
      port,
    );
  }
  const answered = cases.filter((c) => c.want !== undefined).length;
  await until(() => caller.got.length >= answered, 5_000, "the answers");
  await sleep(300);
  const byCall = new Map(caller.got.map((d) => [headerLines(d.text, "Call-ID")[0], statusOf(d.text)]));
  for (const [i, c] of cases.entries()) assert.equal(byCall.get(`ghost-${i}`), c.want, `${c.method} #${i}`);
  assert.deepEqual(third.starts(), []);
  assert.deepEqual(server.starts(), []);
});

test("a valid route token moved to another Call-ID gets 403; a token signed (derived key) for a host in no pool gets 404; neither goes anywhere", {
  timeout: 20_000,
}, async (t) => {
  // The server answers 200 to the INVITE, echoing our Record-Route: the caller learns a real token.
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (methodOf(d.text) === "INVITE") p.send(serverReply(d.text, "200 OK"), d.from.port);
    },
  });
  const third = await udpPeer(t, { host: "127.0.0.3" });
  const caller = await udpPeer(t);
  // No secret: the key is derived from the listener's name and address, which an attacker may know.
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKtok1;rport`,
      callId: "token-owner",
    }),
    port,
  );
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "the 200");
  const ok = caller.got.find((d) => statusOf(d.text) === 200)?.text ?? "";
  const rr = headerLines(ok, "Record-Route")[0] ?? "";
  assert.match(rr, /;tl=/);
  const before = server.got.length;
  // 1: the real token, another Call-ID.
  caller.send(
    sipRequest({
      method: "BYE",
      uri: `sip:bob@127.0.0.3:${third.port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKtok2;rport`,
      callId: "someone-elses-call",
      toTag: "srv",
      cseq: 2,
      extra: [`Route: ${rr}`],
    }),
    port,
  );
  // 2: a token the attacker signs itself with the derived key, naming the third host.
  const key = rrKey(
    "sip",
    {
      transports: ["udp"],
      advertise: undefined,
      secret: undefined,
      maxCalls: 1,
      callTimeoutMs: 1,
      maxTransactionBytes: 1,
      overload: undefined,
      warmUpCalls: 0,
    },
    {
      host: "127.0.0.1",
      port,
    },
  );
  const forged = signServer(`127.0.0.3:${third.port}`, key, { context: "forged-call" });
  assert.ok(forged.ok);
  caller.send(
    sipRequest({
      method: "INFO",
      uri: `sip:bob@127.0.0.3:${third.port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKtok3;rport`,
      callId: "forged-call",
      toTag: "srv",
      cseq: 2,
      extra: [`Route: <sip:127.0.0.1:${port};transport=udp;lr;tl=${forged.token}>`],
    }),
    port,
  );
  const answerTo = (id: string) =>
    caller.got.find((d) => headerLines(d.text, "Call-ID")[0] === id && statusOf(d.text) >= 200);
  await until(
    () => answerTo("someone-elses-call") !== undefined && answerTo("forged-call") !== undefined,
    5_000,
    "both refused",
  );
  assert.equal(statusOf(answerTo("someone-elses-call")?.text ?? ""), 403);
  assert.equal(statusOf(answerTo("forged-call")?.text ?? ""), 404);
  await sleep(200);
  assert.deepEqual(third.starts(), []);
  assert.equal(server.got.length, before, "nothing more reached the server");
  assert.equal(sipListener(p).sessions, 1, "no call learned from either");
});

test("forged responses: no Via, only our Via, an unknown branch naming a third host: at most one datagram out per datagram in, never larger", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t);
  const third = await udpPeer(t, { host: "127.0.0.3" });
  const attacker = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const ours = `SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKnotours.abc`;
  const tail = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: forged-resp\r\nCSeq: 1 INVITE\r\n";
  const sent = [
    `SIP/2.0 200 OK\r\n${tail}Content-Length: 0\r\n\r\n`,
    `SIP/2.0 200 OK\r\nVia: ${ours}\r\n${tail}Content-Length: 0\r\n\r\n`,
    `SIP/2.0 200 OK\r\nVia: ${ours}\r\nVia: SIP/2.0/UDP 127.0.0.3:${third.port};branch=z9hG4bKv\r\n${tail}Content-Length: 0\r\n\r\n`,
    `SIP/2.0 600 Busy Everywhere\r\nVia: ${ours}, SIP/2.0/UDP 127.0.0.3:${third.port};branch=z9hG4bKv\r\n${tail}Content-Length: 0\r\n\r\n`,
  ];
  for (const s of sent) attacker.send(s, port);
  await within(2_000, () => third.got.length >= 2);
  await sleep(300);
  const bytesIn = sent.reduce((a, s) => a + Buffer.byteLength(s), 0);
  t.diagnostic(
    `in: ${sent.length} datagrams, ${bytesIn} bytes; third host: ${third.got.length}, ${third.bytesIn()} bytes`,
  );
  assert.ok(third.got.length <= 2, "more datagrams out than forged responses naming it");
  for (const d of third.got) assert.ok(d.bytes <= bytesIn / sent.length + 200);
  assert.deepEqual(server.starts(), []);
  assert.deepEqual(attacker.starts(), []);
  // The one with no Via is malformed; the one with only ours has nowhere to go: both counted.
  const l = sipListener(p);
  assert.equal(l.malformed.get("missing_header"), 1);
  assert.equal(l.proxy?.stats.dropped.get("no_next_via"), 1);
});
