// A real SIP peer over TCP: SIPp (Debian sip-tester) as the caller (`-t t1`: one TCP
// connection for every call) against a tiny answering server built on the stream transport.
// INVITE, ACK and BYE of every call arrive framed; every answer goes back on the caller's
// connection (the flow), which is the only connection there is.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { buildResponse } from "../../src/protocols/sip/response.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import { freePort } from "../helpers/ports.ts";
import { side } from "../helpers/sip-stream-kit.ts";
import { runSipp, SIPP } from "../helpers/sipp.ts";

test("SIPp calls over TCP to an answering server on the stream transport all complete", {
  skip: existsSync(SIPP) ? false : `${SIPP} is missing`,
}, async (t) => {
  let tags = 0;
  const uas = await side(t, "tcp", {
    onMessage: (m, s) => {
      const req = m.message;
      if (req.kind !== "request" || req.method === "ACK") return;
      const r = buildResponse(req, 200, {
        toTag: `uas${++tags}`,
        headers: [["Contact", `<sip:uas@127.0.0.1:${s.port};transport=tcp>`]],
      });
      if (r.ok) s.t.send(m.source, serializeMessage(r.response), m.flow);
    },
  });
  const calls = 500;
  const res = await runSipp({
    scenario: "uac",
    localPort: await freePort(),
    remote: { host: "127.0.0.1", port: uas.port },
    calls,
    rate: 250,
    timeoutMs: 60_000,
    extraArgs: ["-t", "t1"],
  });
  assert.equal(res.exitCode, 0, `${res.output}\n${res.errors}`);
  assert.equal(res.successful, calls);
  assert.equal(res.failed, 0);
  const s = uas.t.stats();
  assert.equal(s.messagesIn, 3 * calls, "INVITE, ACK and BYE of every call");
  assert.equal(s.messagesOut, 2 * calls);
  assert.equal(s.malformed, 0);
  assert.equal(s.accepted, 1, "one TCP connection carried every call");
  t.diagnostic(`${calls} calls at 250/s over one TCP connection in ${res.ms} ms`);
});
