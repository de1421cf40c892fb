// The pure part of closing a SIP stream on bad bytes: finding the message that failed among
// the bytes of the read that failed, and the 400/513 it gets (or none).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SipStreamOptionsError, streamConfig } from "../../src/protocols/sip/stream-options.ts";
import { failedMessage, rejectionFor } from "../../src/protocols/sip/stream-reject.ts";
import { SIP_LIMITS } from "../../src/protocols/sip/types.ts";

const HEAD =
  "Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK-1\r\nv: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-0\r\n" +
  "f: <sip:a@h>;tag=a\r\nt: <sip:b@h>\r\ni: id-1\r\nCSeq: 1 INVITE\r\n";
const GOOD = (body: string) =>
  `OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-g\r\nFrom: <sip:a@h>;tag=g\r\n` +
  `To: <sip:b@h>\r\nCall-ID: g\r\nCSeq: 1 OPTIONS\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const ERR = { code: "bad_cseq", message: 'CSeq "1 X" is not "number method"' };

test("failedMessage skips the messages that completed before it, bodies and keep-alives included", () => {
  const bad = `INVITE sip:b@h SIP/2.0\r\n${HEAD}\r\n`;
  const bytes = Buffer.from(`\r\n${GOOD("hello\r\n\r\nworld")}\r\n\r\n${GOOD("")}${bad}`);
  assert.equal(failedMessage(bytes, 2, SIP_LIMITS).toString(), bad);
  assert.equal(failedMessage(Buffer.from(bad), 0, SIP_LIMITS).toString(), bad);
});

test("rejectionFor: a 400 with every Via (compact ones too), a To tag and the reason in a Warning", () => {
  const reply = rejectionFor(Buffer.from(`INVITE sip:b@h SIP/2.0\r\n${HEAD}X: "\r\n\r\n`), ERR, "abc");
  assert.ok(reply);
  const parsed = parseMessage(reply, { stream: true });
  assert.ok(parsed.ok);
  const m = parsed.message;
  assert.equal(m.kind === "response" && m.status, 400);
  const values = (name: string) => m.headers.filter((h) => h.name === name).map((h) => h.value);
  assert.deepEqual(values("via"), [
    "SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK-1",
    "SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-0",
  ]);
  assert.deepEqual(values("to"), ["<sip:b@h>;tag=abc"]);
  assert.deepEqual(values("call-id"), ["id-1"]);
  assert.deepEqual(values("warning"), [`399 trunkline "bad_cseq: CSeq '1 X' is not 'number method'"`]);
});

test("rejectionFor: 513 for size errors, even from a head cut off before its end", () => {
  const cut = Buffer.from(`INVITE sip:b@h SIP/2.0\r\n${HEAD}X-Pad: 0123`);
  const reply = rejectionFor(cut, { code: "header_section_too_large", message: "long" }, "t");
  assert.match(reply?.toString() ?? "", /^SIP\/2\.0 513 Message Too Large\r\n/);
});

test("rejectionFor: nothing for a response, an ACK, garbage, or a request missing a copied header", () => {
  const none = (text: string) => rejectionFor(Buffer.from(text), ERR, "t");
  assert.equal(none(`SIP/2.0 200 OK\r\n${HEAD}\r\n`), undefined);
  assert.equal(none(`ACK sip:b@h SIP/2.0\r\n${HEAD}\r\n`), undefined);
  assert.equal(none("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), undefined);
  assert.equal(none(`INVITE sip:b@h SIP/2.0\r\n${HEAD.replace("i: id-1\r\n", "")}\r\n`), undefined);
  assert.equal(none("INVITE sip:b@h"), undefined);
});

test("options: defaults filled in, bad values refused with a stable code", () => {
  const c = streamConfig({ transport: "tcp", host: "127.0.0.1", port: 0, onMessage: () => {} });
  assert.equal(c.idleTimeoutMs, 300_000);
  assert.equal(c.messageTimeoutMs, 10_000);
  assert.equal(c.maxQueuedBytes, 1024 * 1024);
  assert.equal(c.limits.maxMessageBytes, SIP_LIMITS.maxMessageBytes);
  const bad = (o: object) =>
    assert.throws(
      () => streamConfig({ transport: "tcp", host: "127.0.0.1", port: 0, onMessage: () => {}, ...o }),
      (e: unknown) => e instanceof SipStreamOptionsError && e.code === "E_SIP_STREAM_OPTIONS",
    );
  bad({ transport: "tls" }); // no certificate
  bad({ port: 70_000 });
  bad({ idleTimeoutMs: 0 });
  bad({ maxConnections: 1.5 });
});
