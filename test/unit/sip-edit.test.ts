import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addRecordRoute,
  DEFAULT_MAX_FORWARDS,
  decrementMaxForwards,
  prependVia,
  removeTopVia,
  setMaxForwards,
} from "../../src/protocols/sip/edit.ts";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipMessage } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP, OK_200, sip } from "../fixtures/sip/samples.ts";

function parse(bytes: Buffer): SipMessage {
  const r = parseMessage(bytes, { stream: false });
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.message;
}

const LF_FOLDED = Buffer.from(
  [
    "\r\nBYE sip:b@h SIP/2.0",
    "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1,",
    "  SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
    "f: <sip:a@h>;tag=1",
    "t: <sip:b@h>;tag=2",
    "i: c@h",
    "CSeq: 2 BYE",
    "l: 5",
    "Content-Length: 5",
    "",
    "hello",
  ].join("\n"),
);

test("serializeMessage writes CRLF, one header a line, and Content-Length from the body", () => {
  const out = serializeMessage(parse(LF_FOLDED)).toString();
  assert.equal(
    out,
    [
      "BYE sip:b@h SIP/2.0",
      "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
      "f: <sip:a@h>;tag=1",
      "t: <sip:b@h>;tag=2",
      "i: c@h",
      "CSeq: 2 BYE",
      "l: 5",
      "",
      "hello",
    ].join("\r\n"),
  );
  const m = parse(INVITE_SIPP);
  assert.deepEqual(serializeMessage(m), INVITE_SIPP);
  const noBody = serializeMessage({ ...m, body: Buffer.alloc(0) }).toString();
  assert.match(noBody, /\r\nContent-Length: 0\r\n\r\n$/);
  const noLength = serializeMessage({ ...m, headers: m.headers.filter((h) => h.name !== "content-length") });
  assert.deepEqual(noLength, INVITE_SIPP);
});

test("a line break in a hand-made value cannot start a header of its own", () => {
  const m = parse(OK_200);
  const evil = { ...m, headers: [...m.headers, { name: "x", rawName: "X", value: "a\r\nVia: evil" }] };
  const out = serializeMessage(evil).toString();
  assert.ok(out.includes("X: a Via: evil\r\n"));
});

test("prependVia puts our Via on a line of its own on top", () => {
  const m = parse(LF_FOLDED);
  const r = prependVia(m, "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKours");
  assert.ok(r.ok);
  assert.deepEqual(headerValues(r.message, "via"), [
    "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKours",
    "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1",
    "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
  ]);
  assert.equal(r.message.headers[0]?.rawName, "Via");
  assert.equal(headerValues(m, "via").length, 2, "the given message is unchanged");
  for (const bad of ["", "  ", "SIP/2.0/UDP h\r\nX: y", "a\nb"]) {
    const e = prependVia(m, bad);
    assert.ok(!e.ok);
    assert.equal(e.error.code, "bad_value");
  }
});

test("removeTopVia takes the first value off a shared line, or the whole line", () => {
  const m = parse(OK_200);
  const once = removeTopVia(m);
  assert.ok(once.ok);
  assert.equal(once.removed, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKproxy1;received=10.0.0.1");
  assert.deepEqual(headerValues(once.message, "via"), [
    "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0",
  ]);
  const twice = removeTopVia(once.message);
  assert.ok(twice.ok);
  assert.equal(
    twice.message.headers.some((h) => h.name === "via"),
    false,
  );
  const none = removeTopVia(twice.message);
  assert.ok(!none.ok);
  assert.equal(none.error.code, "no_via");
  // Round trip: our Via on, then off, gives the message back.
  const added = prependVia(m, "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKours");
  assert.ok(added.ok);
  const back = removeTopVia(added.message);
  assert.ok(back.ok);
  assert.deepEqual(serializeMessage(back.message), serializeMessage(m));
});

test("Max-Forwards: decremented, added as 70 when absent, refused at 0 or when not a number", () => {
  const m = parse(INVITE_SIPP);
  const d = decrementMaxForwards(m);
  assert.ok(d.ok);
  assert.equal(d.value, 69);
  assert.equal(headerValue(d.message, "max-forwards"), "69");
  assert.equal(d.message.headers.length, m.headers.length);
  const without = { ...m, headers: m.headers.filter((h) => h.name !== "max-forwards") };
  const added = decrementMaxForwards(without);
  assert.ok(added.ok);
  assert.equal(added.value, DEFAULT_MAX_FORWARDS);
  assert.equal(added.message.headers[1]?.name, "max-forwards", "right after the Via");
  const zero = setMaxForwards(m, 0);
  assert.ok(zero.ok);
  const z = decrementMaxForwards(zero.message);
  assert.ok(!z.ok);
  assert.equal(z.error.code, "max_forwards_zero");
  const bad = { ...m, headers: m.headers.map((h) => (h.name === "max-forwards" ? { ...h, value: "x" } : h)) };
  const b = decrementMaxForwards(bad);
  assert.ok(!b.ok);
  assert.equal(b.error.code, "bad_max_forwards");
  for (const n of [-1, 1.5, Number.NaN, 2 ** 32]) assert.equal(setMaxForwards(m, n).ok, false);
  const twice = {
    ...m,
    headers: [...m.headers, { name: "max-forwards", rawName: "Max-Forwards", value: "3" }],
  };
  const once = setMaxForwards(twice, 10);
  assert.ok(once.ok);
  assert.deepEqual(headerValues(once.message, "max-forwards"), ["10"]);
});

test("addRecordRoute goes on top of the Record-Routes, else after the Vias", () => {
  const ok = parse(OK_200);
  const r = addRecordRoute(ok, "<sip:10.9.9.9;lr>");
  assert.ok(r.ok);
  assert.deepEqual(headerValues(r.message, "record-route"), [
    "<sip:10.9.9.9;lr>",
    "<sip:10.0.0.1;lr>",
    "<sip:10.0.0.2;lr>",
  ]);
  const invite = parse(INVITE_SIPP);
  const first = addRecordRoute(invite, "<sip:10.9.9.9;lr>");
  assert.ok(first.ok);
  assert.equal(first.message.headers[1]?.rawName, "Record-Route");
  assert.equal(addRecordRoute(invite, "<sip:x;lr>\r\n").ok, false);
});

test("edited messages serialize to SIP that parses back", () => {
  let m = parse(INVITE_SIPP);
  const steps = [
    (x: SipMessage) => prependVia(x, "SIP/2.0/TCP 10.9.9.9:5060;branch=z9hG4bKp1;rport"),
    (x: SipMessage) => addRecordRoute(x, "<sip:10.9.9.9;transport=tcp;lr>"),
    (x: SipMessage) => decrementMaxForwards(x),
  ];
  for (const step of steps) {
    const r = step(m);
    assert.ok(r.ok);
    m = r.message;
  }
  const back = parseMessage(serializeMessage(m), { stream: true });
  assert.ok(back.ok);
  assert.deepEqual(back.message.headers, m.headers);
  assert.deepEqual(back.message.body, m.body);
});

test("a parsed SIPp message with several Vias on one line keeps them through an edit", () => {
  const m = parse(sip(["SIP/2.0 100 Trying", ...OK_200.toString().split("\r\n").slice(1, 7)]));
  const r = removeTopVia(m);
  assert.ok(r.ok);
  assert.equal(headerValues(r.message, "via").length, 1);
});
