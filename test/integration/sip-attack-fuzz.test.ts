// Mutation fuzzing of a running Trunkline SIP listener over UDP and TCP: valid requests and
// responses of every kind the proxy routes, with header values, parameters and the start
// line replaced by hostile fragments. Whatever arrives, the handler must not throw (counted
// as handlerErrors), and the proxy must still answer afterwards.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { serverReply, sipRequest, sleep, statusOf, udpPeer } from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

/** A small deterministic PRNG (mulberry32): the same mutations on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  "",
  " ",
  "<",
  ">",
  "<>",
  ";",
  ";;",
  "=",
  ",",
  ",,",
  '"',
  '"\\',
  "\\",
  "%",
  "%zz",
  "%ff",
  "[",
  "]",
  "[::1]",
  "[::ffff:127.0.0.1]",
  "[fe80::1%eth0]",
  ":",
  ":0",
  ":65536",
  ":99999999999",
  "@",
  "sip:",
  "sips:",
  "tel:+1",
  "sip:@",
  "sip:a@b@c",
  "<sip:x;lr",
  "<sip:127.0.0.1;lr>",
  ";branch=",
  ";branch=z9hG4bK",
  ";rport=0",
  ";rport=-1",
  ";rport=abc",
  ";received=",
  ";received=::1",
  ";received=[::1]",
  ";maddr=127.0.0.3",
  ";transport=tcp",
  ";transport=sctp",
  ";tl=",
  ";tl=AAAA",
  ";tag=",
  "SIP/2.0/UDP",
  "SIP/2.0/TCP [",
  "SIP/2.0/UDP 127.0.0.1:0",
  "SIP/2.0/UDP 127.0.0.1:65535;branch=z9hG4bKa.b.c",
  "\u00e9\u00e8",
  "\u00c3\u00a9",
  "\u00ff\u00fe",
  "0",
  "-1",
  "4294967296",
  "99999999999999999999",
  "a".repeat(300),
  "constructor",
  "__proto__",
  "toString",
];

test("UDP and TCP: 6,000 mutated requests and responses never make the handler throw; the proxy still answers", {
  timeout: 60_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      if (d.text.startsWith("INVITE ") || d.text.startsWith("BYE ") || d.text.startsWith("OPTIONS "))
        p.send(serverReply(d.text, "200 OK"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(
    sipConfig([server.port], "    invite_timeout: 200ms\n", ", transports: [udp, tcp]"),
  );
  t.after(() => p.close());
  const port = p.port("sip");
  // A real call first, for a real Record-Route token to mutate around.
  caller.send(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfz0;rport`,
      callId: "fuzz-call",
    }),
    port,
  );
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "the call's 200");
  const rr =
    headerLines(caller.got.find((d) => statusOf(d.text) === 200)?.text ?? "", "Record-Route")[0] ?? "";
  const templates = [
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzI;rport`,
      callId: "fz",
    }),
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzO;rport`,
      callId: "fz",
    }),
    sipRequest({
      method: "BYE",
      uri: "sip:fs@127.0.0.1",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzB;rport`,
      callId: "fuzz-call",
      toTag: "srv",
      cseq: 2,
      extra: [`Route: ${rr}`],
    }),
    sipRequest({
      method: "CANCEL",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzI;rport`,
      callId: "fz",
    }),
    sipRequest({
      method: "ACK",
      uri: "sip:fs@127.0.0.1",
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzA;rport`,
      callId: "fuzz-call",
      toTag: "srv",
      extra: [`Route: ${rr}`],
    }),
    [
      "SIP/2.0 200 OK",
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKours.x`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzR;rport=${caller.port}`,
      "From: <sip:alice@127.0.0.1>;tag=a1",
      "To: <sip:bob@example.com>;tag=srv",
      "Call-ID: fz",
      "CSeq: 2 BYE",
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
  ];
  const rand = rng(20261202);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const mutate = (msg: string): string => {
    const lines = msg.split("\r\n");
    const n = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rand() * (lines.length - 2));
      const line = lines[i] ?? "";
      const f = pick(FRAGMENTS);
      const r = rand();
      if (i === 0) {
        const parts = line.split(" ");
        parts[Math.floor(rand() * parts.length)] = f || "x";
        lines[i] = parts.join(" ");
      } else if (r < 0.4) {
        const colon = line.indexOf(":");
        lines[i] = `${line.slice(0, colon + 1)} ${f}`;
      } else if (r < 0.8) {
        const at = Math.floor(rand() * (line.length + 1));
        lines[i] = line.slice(0, at) + f + line.slice(at);
      } else lines.splice(i + 1, 0, lines[i] ?? "");
    }
    return lines.join("\r\n");
  };
  const l = sipListener(p);
  const N = 5_000;
  for (let i = 0; i < N; i++) {
    caller.send(Buffer.from(mutate(pick(templates)), "latin1"), port);
    if (i % 50 === 49) await sleep(2);
  }
  // The same over TCP, one connection per 100 messages (a bad one closes it).
  for (let c = 0; c < 10; c++) {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    t.after(() => s.destroy());
    await new Promise<void>((r) => {
      s.once("connect", () => r());
      s.once("close", () => r());
    });
    for (let i = 0; i < 100; i++) {
      const m = mutate(pick(templates)).replace("SIP/2.0/UDP 127.0.0.1", "SIP/2.0/TCP 127.0.0.1");
      s.write(Buffer.from(m, "latin1"));
    }
    await sleep(20);
    s.destroy();
  }
  await sleep(1_000);
  const udp = l.udpStats;
  const tcp = l.transports?.streamStats("tcp");
  t.diagnostic(
    `udp ${JSON.stringify(udp)}; tcp ${JSON.stringify(tcp)}; dropped ${JSON.stringify([...(l.proxy?.stats.dropped ?? [])])}; answered ${JSON.stringify([...(l.proxy?.stats.answered ?? [])])}; calls ${l.sessions}, tx ${l.proxy?.transactions}`,
  );
  assert.equal(udp?.handlerErrors, 0, "the UDP handler threw");
  assert.equal(tcp?.handlerErrors, 0, "the TCP handler threw");
  const errs = p.logs.filter((r) => r.level === "error");
  assert.deepEqual(errs.slice(0, 3), []);
  // Still serving.
  const before = caller.got.length;
  caller.send(
    sipRequest({
      method: "OPTIONS",
      uri: `sip:127.0.0.1:${port}`,
      via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKfzlast;rport`,
      callId: "fuzz-last",
    }),
    port,
  );
  await until(
    () => caller.got.slice(before).some((d) => headerLines(d.text, "Call-ID")[0] === "fuzz-last"),
    5_000,
    "an answer after the fuzzing",
  );
});
