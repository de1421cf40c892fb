// SIP over TLS through Trunkline (issue #13's `sips` listener): a caller and an answering
// server that both speak TLS (the stream transport as peers), a listener with
// `transports: [tls]` and the test certificate. A whole call: INVITE, 180, 200, ACK and BYE
// along the Record-Route set, its 200; one Record-Route entry (the transport does not change).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type TestContext, test } from "node:test";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipInbound, SipPeer } from "../../src/protocols/sip/transport.ts";
import type { SipHeader, SipRequest } from "../../src/protocols/sip/types.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, sipListener } from "../helpers/sip-proxy.ts";
import { type Side, side } from "../helpers/sip-stream-kit.ts";

const TLS = new URL("../fixtures/tls/", import.meta.url);
const files = Object.fromEntries(
  ["server.pem", "server.key", "ca.pem"].map((n) => [n, readFileSync(new URL(n, TLS))]),
);

const h = (name: string, value: string): SipHeader => ({ name: name.toLowerCase(), rawName: name, value });

/** The answering server: 180 and 200 to an INVITE (echoing Record-Route), 200 to a BYE. */
function answer(m: SipInbound, s: Side): void {
  if (m.message.kind !== "request" || m.message.method === "ACK") return;
  const req = m.message;
  const copy = (name: string) => headerValues(req, name).map((v) => h(name, v));
  const reply = (status: number, reason: string) =>
    s.t.send(
      m.source,
      serializeMessage({
        kind: "response",
        version: "SIP/2.0",
        status,
        reason,
        body: Buffer.alloc(0),
        headers: [
          ...copy("Via"),
          ...(req.method === "INVITE" ? copy("Record-Route") : []),
          ...copy("From"),
          h("To", `${headerValue(req, "to")}${req.method === "INVITE" ? ";tag=uas1" : ""}`),
          ...copy("Call-ID"),
          ...copy("CSeq"),
          h("Contact", `<sip:uas@127.0.0.1:${s.port};transport=tls>`),
        ],
      }),
      m.flow,
    );
  if (req.method === "INVITE") reply(180, "Ringing");
  reply(200, "OK");
}

function request(method: string, uri: string, port: number, cseq: number, extra: SipHeader[]): SipRequest {
  return {
    kind: "request",
    method,
    uri,
    version: "SIP/2.0",
    body: Buffer.alloc(0),
    headers: [
      h("Via", `SIP/2.0/TLS 127.0.0.1:${port};branch=z9hG4bK-tls-${method}-${cseq};rport`),
      h("Max-Forwards", "70"),
      h("From", "<sip:alice@127.0.0.1>;tag=a1"),
      h("To", `<sip:bob@example.com>${method === "INVITE" ? "" : ";tag=uas1"}`),
      h("Call-ID", "tls-call-1"),
      h("CSeq", `${cseq} ${method}`),
      h("Contact", `<sip:alice@127.0.0.1:${port};transport=tls>`),
      ...extra,
    ],
  };
}

async function tlsCall(t: TestContext, serverTls: string) {
  const uas = await side(t, "tls", { onMessage: answer });
  const p = await startProxy(
    `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0, transports: [tls], tls: { cert: server.pem, key: server.key } } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { invite_timeout: 500ms, servers: [ { address: 127.0.0.1:${uas.port}${serverTls} } ] } }
`,
    { files },
  );
  t.after(() => p.close());
  const uac = await side(t, "tls", { clientTls: { verify: false } });
  const proxy: SipPeer = { transport: "tls", host: "127.0.0.1", port: p.port("sip") };
  uac.t.send(proxy, serializeMessage(request("INVITE", "sip:bob@example.com", uac.port, 1, [])));
  return { uas, p, uac, proxy };
}

const status = (code: number, method: string) => (m: SipInbound) =>
  m.message.kind === "response" &&
  m.message.status === code &&
  headerValue(m.message, "cseq")?.endsWith(method) === true;

test("a call over TLS on both sides: INVITE, ACK and BYE cross the proxy, one Record-Route", {
  timeout: 30_000,
}, async (t) => {
  // The server's certificate is checked against the pool server's own tls: (as FastAGI's).
  const { uas, p, uac, proxy } = await tlsCall(t, ", tls: { ca: ca.pem, servername: localhost }");
  await until(() => uac.got.some(status(200, "INVITE")), 10_000, "200 to the INVITE");
  const ok = uac.got.find(status(200, "INVITE"));
  assert.ok(ok && ok.message.kind === "response");
  const rr = headerValues(ok.message, "record-route");
  assert.equal(rr.length, 1);
  assert.match(rr[0] ?? "", /;transport=tls;lr;tl=/);
  assert.ok(uac.got.some(status(100, "INVITE")) && uac.got.some(status(180, "INVITE")));
  // The UAC's route set is the Record-Route list reversed (RFC 3261 §12.1.2); its target, the Contact.
  const route = [...rr].reverse().map((v) => h("Route", v));
  const target = `sip:uas@127.0.0.1:${uas.port};transport=tls`;
  uac.t.send(proxy, serializeMessage(request("ACK", target, uac.port, 1, route)));
  uac.t.send(proxy, serializeMessage(request("BYE", target, uac.port, 2, route)));
  await until(() => uac.got.some(status(200, "BYE")), 10_000, "200 to the BYE");
  const methods = uas.got.map((m) => (m.message.kind === "request" ? m.message.method : "response"));
  assert.deepEqual(methods, ["INVITE", "ACK", "BYE"]);
  await until(() => callLines(p).length === 1, 5_000, "the call's line");
  assert.equal(callLines(p)[0]?.end, "bye");
  assert.equal(sipListener(p).sessions, 0);
  assert.equal(sipListener(p).transports?.streamStats("tls")?.malformed, 0);
});

test("toward a server with no tls: the certificate must verify against the system CAs; a test CA does not", {
  timeout: 30_000,
}, async (t) => {
  const { uas, p, uac } = await tlsCall(t, "");
  // The connection to the server fails verification: no INVITE reaches it, the caller gets 503.
  await until(() => uac.got.some(status(503, "INVITE")), 10_000, "503 to the INVITE");
  assert.equal(uas.got.length, 0);
  assert.ok(
    (sipListener(p).malformed.get("tls_failed") ?? 0) >= 1,
    JSON.stringify([...sipListener(p).malformed]),
  );
});
