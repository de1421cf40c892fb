import assert from "node:assert/strict";
import { test } from "node:test";
import { buildOptions, matchOptionsResponse, newOptionsPing } from "../../src/health/sip-options-probe.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { sipResponse } from "../helpers/sip-options-responder.ts";

const ping = newOptionsPing("10.0.0.21", 5060, "127.0.0.1", 40000);

test("OPTIONS ping: a valid out-of-dialog request with Max-Forwards 70, our From with a tag, the server in To", () => {
  const text = buildOptions(ping);
  const r = parseMessage(Buffer.from(text), { stream: false });
  assert.ok(r.ok, "our own parser accepts it");
  assert.equal(r.message.kind, "request");
  assert.match(text, /^OPTIONS sip:10\.0\.0\.21:5060 SIP\/2\.0\r\n/);
  assert.match(
    text,
    new RegExp(`\r\nVia: SIP/2\\.0/UDP 127\\.0\\.0\\.1:40000;branch=${ping.branch};rport\r\n`),
  );
  assert.match(ping.branch, /^z9hG4bK/);
  assert.match(text, /\r\nMax-Forwards: 70\r\n/);
  assert.match(text, new RegExp(`\r\nFrom: <sip:trunkline@127\\.0\\.0\\.1:40000>;tag=${ping.tag}\r\n`));
  assert.match(text, /\r\nTo: <sip:10\.0\.0\.21:5060>\r\n/);
  assert.match(text, /\r\nCSeq: 1 OPTIONS\r\nAccept: application\/sdp\r\nContent-Length: 0\r\n\r\n$/);
});

test("OPTIONS ping: every ping has a fresh branch, Call-ID and tag", () => {
  const b = newOptionsPing("10.0.0.21", 5060, "127.0.0.1", 40000);
  assert.notEqual(b.branch, ping.branch);
  assert.notEqual(b.callId, ping.callId);
  assert.notEqual(b.tag, ping.tag);
});

test("OPTIONS ping: IPv6 addresses are bracketed in the URIs and the Via", () => {
  const text = buildOptions(newOptionsPing("::1", 5060, "::1", 40000));
  assert.match(text, /^OPTIONS sip:\[::1\]:5060 SIP\/2\.0\r\nVia: SIP\/2\.0\/UDP \[::1\]:40000;/);
  assert.ok(parseMessage(Buffer.from(text), { stream: false }).ok);
});

test("OPTIONS answer: matched by Call-ID and top Via branch, any status; anything else is ignored", () => {
  const req = buildOptions(ping);
  for (const status of [200, 404, 503, 100, 603])
    assert.equal(matchOptionsResponse(Buffer.from(sipResponse(req, status)), ping), status);
  const other = buildOptions(newOptionsPing("10.0.0.21", 5060, "127.0.0.1", 40000));
  assert.equal(
    matchOptionsResponse(Buffer.from(sipResponse(other, 200)), ping),
    undefined,
    "another ping's answer",
  );
  const sameCallIdOtherBranch = sipResponse(req, 200).replace(ping.branch, "z9hG4bKelse");
  assert.equal(matchOptionsResponse(Buffer.from(sameCallIdOtherBranch), ping), undefined);
  assert.equal(matchOptionsResponse(Buffer.from(req), ping), undefined, "a request is no answer");
  assert.equal(matchOptionsResponse(Buffer.from("garbage\r\n\r\n"), ping), undefined);
  assert.equal(matchOptionsResponse(Buffer.alloc(0), ping), undefined);
  // Compact header names (RFC 3261 §7.3.3) are an answer like any other.
  const compact = sipResponse(req, 200).replace("\r\nVia:", "\r\nv:").replace("\r\nCall-ID:", "\r\ni:");
  assert.equal(matchOptionsResponse(Buffer.from(compact), ping), 200);
});
