import assert from "node:assert/strict";
import { test } from "node:test";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { buildResponse, reasonPhrase } from "../../src/protocols/sip/response.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipRequest, SipResponse } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP, OPTIONS, sip } from "../fixtures/sip/samples.ts";

function request(bytes: Buffer): SipRequest {
  const r = parseMessage(bytes, { stream: false });
  if (!r.ok || r.message.kind !== "request") assert.fail("not a request");
  return r.message;
}

function respond(
  req: SipRequest,
  ...args: Parameters<typeof buildResponse> extends [unknown, ...infer R] ? R : never
) {
  const r = buildResponse(req, ...args);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.response;
}

/** SIPp's INVITE after two proxies: three Vias, two on one compact line; a Timestamp. */
const INVITE_VIA_PROXIES = sip([
  "INVITE sip:service@10.0.0.8:5060 SIP/2.0",
  "v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKp2, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp1",
  "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1;rport=5061",
  "f: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001",
  "t: service <sip:service@127.0.0.1:5060>",
  "i: 1-12345@127.0.0.1",
  "CSeq: 1 INVITE",
  "Timestamp: 54",
  "Record-Route: <sip:10.0.0.1;lr>",
  "Max-Forwards: 68",
  "Content-Length: 0",
]);

test("a 100 Trying copies Via (every line, in order), From, To untagged, Call-ID, CSeq, Timestamp", () => {
  const req = request(INVITE_VIA_PROXIES);
  const res = respond(req, 100);
  assert.equal(
    serializeMessage(res).toString(),
    [
      "SIP/2.0 100 Trying",
      "v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKp2, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp1",
      "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1;rport=5061",
      "f: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001",
      "t: service <sip:service@127.0.0.1:5060>",
      "i: 1-12345@127.0.0.1",
      "CSeq: 1 INVITE",
      "Timestamp: 54",
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
  );
  assert.equal(headerValues(res, "via").length, 3);
  assert.equal(headerValue(res, "record-route"), undefined);
});

test("a final response adds the caller's To tag when the To has none, and keeps one that is there", () => {
  const req = request(INVITE_SIPP);
  const busy = respond(req, 486, { toTag: "tl-8a3f" });
  assert.equal(headerValue(busy, "to"), "service <sip:service@127.0.0.1:5060>;tag=tl-8a3f");
  assert.equal(headerValue(busy, "timestamp"), undefined);
  const ringing = respond(req, 180, { toTag: "x1" });
  assert.match(headerValue(ringing, "to") ?? "", /;tag=x1$/);
  const bye = request(
    sip([
      "BYE sip:service@10.0.0.8 SIP/2.0",
      "Via: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKb1",
      "From: <sip:a@h>;tag=1",
      "To: sip:b@h;tag=2",
      "Call-ID: c1",
      "CSeq: 2 BYE",
      "Content-Length: 0",
    ]),
  );
  assert.equal(headerValue(respond(bye, 200, { toTag: "other" }), "to"), "sip:b@h;tag=2");
  assert.equal(headerValue(respond(bye, 481), "to"), "sip:b@h;tag=2");
  const bare = request(
    sip([
      "OPTIONS sip:h SIP/2.0",
      "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKo",
      "From: <sip:a@h>;tag=1",
      "To: sip:b@h",
      "Call-ID: c2",
      "CSeq: 1 OPTIONS",
    ]),
  );
  assert.equal(headerValue(respond(bare, 200, { toTag: "t9" }), "to"), "sip:b@h;tag=t9");
});

test("standard reason phrases, a given one, and a class name for other codes", () => {
  const table: [number, string][] = [
    [100, "Trying"],
    [180, "Ringing"],
    [183, "Session Progress"],
    [200, "OK"],
    [400, "Bad Request"],
    [403, "Forbidden"],
    [404, "Not Found"],
    [408, "Request Timeout"],
    [420, "Bad Extension"],
    [480, "Temporarily Unavailable"],
    [482, "Loop Detected"],
    [483, "Too Many Hops"],
    [486, "Busy Here"],
    [487, "Request Terminated"],
    [500, "Server Internal Error"],
    [503, "Service Unavailable"],
    [504, "Server Time-out"],
    [299, "Success"],
    [699, "Global Failure"],
  ];
  const req = request(OPTIONS);
  for (const [status, reason] of table) {
    assert.equal(reasonPhrase(status), reason);
    const res: SipResponse = respond(req, status, { toTag: "t" });
    assert.equal(res.status, status);
    assert.equal(res.reason, reason);
    assert.ok(serializeMessage(res).toString().startsWith(`SIP/2.0 ${status} ${reason}\r\n`));
  }
  assert.equal(respond(req, 480, { toTag: "t", reason: "No Server Online" }).reason, "No Server Online");
});

test("extra headers follow CSeq; a caller's Content-Length gives way to the body's", () => {
  const req = request(OPTIONS);
  const res = respond(req, 503, {
    toTag: "t",
    headers: [
      ["Retry-After", "5"],
      ["Content-Length", "99"],
    ],
  });
  const text = serializeMessage(res).toString();
  assert.match(text, /\r\nCSeq: 1 OPTIONS\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n$/);
  const unsupported = respond(request(INVITE_SIPP), 420, {
    toTag: "t",
    headers: [["Unsupported", "foo, bar"]],
  });
  assert.match(serializeMessage(unsupported).toString(), /\r\nUnsupported: foo, bar\r\n/);
  assert.deepEqual(headerValues(unsupported, "unsupported"), ["foo", "bar"]);
  const back = parseMessage(serializeMessage(unsupported), { stream: true });
  assert.ok(back.ok);
});

test("every error is a value: bad status, reason, tag, header; missing headers; unreadable To", () => {
  const req = request(INVITE_SIPP);
  const cases: [SipRequest, number, Parameters<typeof buildResponse>[2], string][] = [
    [req, 99, {}, "bad_status"],
    [req, 700, {}, "bad_status"],
    [req, 200.5, {}, "bad_status"],
    [req, 200, {}, "missing_to_tag"],
    [req, 200, { toTag: "a b" }, "bad_value"],
    [req, 200, { toTag: "t", reason: "OK\r\nX: injected" }, "bad_value"],
    [req, 200, { toTag: "t", headers: [["Bad Name", "v"]] }, "bad_value"],
    [req, 200, { toTag: "t", headers: [["X", "a\nb"]] }, "bad_value"],
    [{ ...req, headers: req.headers.filter((h) => h.name !== "call-id") }, 100, {}, "missing_header"],
    [{ ...req, headers: req.headers.filter((h) => h.name !== "via") }, 100, {}, "missing_header"],
    [
      { ...req, headers: req.headers.map((h) => (h.name === "to" ? { ...h, value: '"open <sip:x>' } : h)) },
      100,
      {},
      "bad_to",
    ],
  ];
  for (const [r, status, opts, code] of cases) {
    const res = buildResponse(r, status, opts);
    assert.equal(res.ok, false, `${status} ${code}`);
    if (!res.ok) assert.equal(res.error.code, code);
  }
});
