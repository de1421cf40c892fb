// Log injection and evasion through syslog: a value a caller controls must never end a
// syslog message early, start a new one, or break the octet counting of the TCP stream;
// and it must not be able to push the record's verdict (outcome, server) out of it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refusedPort } from "../helpers/blackhole.ts";
import {
  agiHeader,
  agiRaw,
  octetFrames,
  startLoggedProxy,
  syslogMsg,
  tcpReceiver,
  udpReceiver,
  waitFor,
} from "../helpers/obs-attack.ts";

async function config(syslog: string): Promise<string> {
  const dead = await refusedPort();
  return `
log: { level: info, syslog: "${syslog}" }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { connect_timeout: 500ms, total_timeout: 1s, servers: [ { address: 127.0.0.1:${dead} } ] } }
`;
}

/** Values shaped like syslog framing: a second octet-counted frame, a 3164/5424 header, a bare newline. */
const FRAMING = [
  "x 57 <13>1 2026-01-01T00:00:00Z evil trunkline 1 session - {}",
  "x\u2028<13>1 - evil trunkline 1 session - forged",
  "x\u0085<134>Jan  1 00:00:00 evil trunkline: forged",
  "999999 x",
  `x${"\u00e9".repeat(5_000)}`, // 10,000 UTF-8 bytes: cut on a character boundary
  `x${"B".repeat(30_000)}`,
];

test("TCP syslog: hostile values never break the octet counting: one frame per record, lengths exact, each frame a whole RFC 5424 message of at most 8 KiB", async (t) => {
  const rx = await tcpReceiver();
  t.after(() => rx.close());
  const p = await startLoggedProxy(await config(`tcp://127.0.0.1:${rx.port}`));
  t.after(() => p.close());
  for (const v of FRAMING) await agiRaw(p.port(), agiHeader({ agi_request: `agi://h/${v}`, agi_channel: v }));
  const stdoutLines = () => p.out().split("\n").length - 1;
  await waitFor(
    () =>
      p
        .out()
        .split("\n")
        .filter((l) => l.includes('"event":"session"')).length >= FRAMING.length,
    8000,
    "session lines",
  );
  await waitFor(
    () => {
      const { frames, rest } = octetFrames(rx.bytes());
      return frames.length >= stdoutLines() && rest.length === 0;
    },
    8000,
    "one syslog frame per stdout line",
  );
  const { frames, rest } = octetFrames(rx.bytes());
  assert.equal(rest.length, 0, "no bytes outside a frame");
  assert.equal(frames.length, stdoutLines(), "exactly one frame per record");
  let sessions = 0;
  for (const f of frames) {
    assert.ok(f.length <= 8192, `a frame of ${f.length} bytes`);
    const m = syslogMsg(f);
    assert.ok(m, `a whole RFC 5424 header: ${f.toString("utf8", 0, 80)}`);
    assert.ok(!m.msg.includes("\n"), "no newline inside MSG");
    assert.ok(!m.msg.includes("\ufffd"), "the cut never splits a UTF-8 sequence");
    if (m.msgId === "session") sessions++;
  }
  assert.equal(sessions, FRAMING.length, "one session message per session");
});

// A defect found by attacking the proxy, fixed: a client's long agi_request (2 KB over UDP, 8 KB over TCP) cuts the syslog record before its outcome/server fields; client values should be capped so the record stays whole JSON.
test("syslog: a caller's long agi_request cannot push the session's outcome out of the syslog record (it stays whole JSON), over UDP and TCP", async (t) => {
  const udp = await udpReceiver();
  t.after(() => udp.close());
  const tcp = await tcpReceiver();
  t.after(() => tcp.close());
  const results: string[] = [];
  for (const [target, size, got] of [
    [`udp://127.0.0.1:${udp.port}`, 3_000, () => udp.datagrams],
    [`tcp://127.0.0.1:${tcp.port}`, 12_000, () => octetFrames(tcp.bytes()).frames],
  ] as const) {
    const p = await startLoggedProxy(await config(target));
    try {
      // 3 KB and 12 KB: far under the 64 KiB FastAGI header limit; Asterisk sends such URLs.
      await agiRaw(
        p.port(),
        agiHeader({ agi_request: `agi://h/ivr?data=${"a".repeat(size)}`, agi_channel: "x" }),
      );
      await waitFor(
        () => got().some((f) => syslogMsg(f)?.msgId === "session"),
        8000,
        `the session record over ${target}`,
      );
    } finally {
      await p.close();
    }
    const f = got().find((x) => syslogMsg(x)?.msgId === "session") as Buffer;
    const msg = (syslogMsg(f) as { msg: string }).msg;
    let rec: Record<string, unknown> | undefined;
    try {
      rec = JSON.parse(msg) as Record<string, unknown>;
    } catch {}
    if (rec?.outcome !== "failure_no_server")
      results.push(
        `${target.slice(0, 3)}: ${size}-byte request: MSG of ${Buffer.byteLength(msg)} bytes is ${rec === undefined ? "not JSON" : "JSON"}, ends ${JSON.stringify(msg.slice(-40))}`,
      );
  }
  assert.deepEqual(results, [], "the record's verdict survives a long client value");
});
