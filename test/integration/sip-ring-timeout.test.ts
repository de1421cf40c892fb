// A pool's ring_timeout on real sockets: a server that rings and never answers (a phone
// nobody picks up behind FreeSWITCH) gets a CANCEL that long after its last 180, and the
// caller a 408, where Timer C would have let it ring for 181 s.
import assert from "node:assert/strict";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { type TestContext, test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines } from "../helpers/sip-proxy.ts";

async function udp(t: TestContext): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  t.after(() => s.close());
  return s;
}

/** A response echoing the request's Via, From, Call-ID, CSeq and Record-Route lines, To tagged. */
function answer(req: string, status: string): string {
  const lines = req.split("\r\n");
  const keep = lines.filter((l) => /^(via|from|call-id|cseq|record-route):/i.test(l));
  const to = lines.find((l) => /^to:/i.test(l)) ?? "To: <sip:x@y>";
  return [`SIP/2.0 ${status}`, ...keep, `${to};tag=ringer`, "Content-Length: 0", "", ""].join("\r\n");
}

test("ring_timeout: a call that rings with no answer is CANCELled after it, and its caller gets 408", {
  timeout: 30_000,
}, async (t) => {
  const ringer = await udp(t);
  const got: string[] = [];
  let invite = "";
  let rangAt = 0;
  let cancelAt = 0;
  ringer.on("message", (m: Buffer, from: RemoteInfo) => {
    const text = m.toString("latin1");
    const method = text.slice(0, text.indexOf(" "));
    got.push(method);
    const reply = (req: string, s: string) => ringer.send(answer(req, s), from.port, from.address);
    if (method === "INVITE" && invite === "") {
      invite = text;
      reply(text, "180 Ringing");
      rangAt = performance.now();
    } else if (method === "CANCEL") {
      if (cancelAt === 0) cancelAt = performance.now();
      reply(text, "200 OK");
      reply(invite, "487 Request Terminated");
    }
  });
  const p = await startProxy(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    ring_timeout: 1s
    servers: [ { address: 127.0.0.1:${ringer.address().port} } ]
`);
  t.after(() => p.close());
  const caller = await udp(t);
  const answers: string[] = [];
  caller.on("message", (m: Buffer) => answers.push(m.toString("latin1").split("\r\n")[0] ?? ""));
  const callId = `ring-timeout-${process.pid}@127.0.0.1`;
  const here = `127.0.0.1:${caller.address().port}`;
  caller.send(
    [
      "INVITE sip:bob@127.0.0.1 SIP/2.0",
      `Via: SIP/2.0/UDP ${here};branch=z9hG4bK-rt-1;rport`,
      "Max-Forwards: 70",
      `From: <sip:alice@${here}>;tag=rt1`,
      "To: <sip:bob@127.0.0.1>",
      `Call-ID: ${callId}`,
      "CSeq: 1 INVITE",
      `Contact: <sip:alice@${here}>`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
    p.port("sip"),
    "127.0.0.1",
  );
  await until(() => answers.includes("SIP/2.0 408 Request Timeout"), 10_000, "the caller's 408");
  assert.deepEqual(answers.slice(0, 3), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 408 Request Timeout",
  ]);
  const rang = cancelAt - rangAt;
  assert.ok(rang >= 950 && rang < 5_000, `CANCEL ${Math.round(rang)} ms after the 180 (ring_timeout 1 s)`);
  assert.ok(got.includes("ACK"), "the 487 ACKed hop by hop");
  await until(() => callLines(p).length === 1, 10_000, "the call's line");
  assert.equal(callLines(p)[0]?.final_code, 408);
  t.diagnostic(`CANCEL ${Math.round(rang)} ms after the 180`);
});
