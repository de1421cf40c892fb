import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCSeq, parseNameAddr } from "../../src/protocols/sip/fields.ts";
import { parseVia } from "../../src/protocols/sip/via.ts";

/** The header values a proxy reads, one function each: addresses, Via, CSeq. */
test("name-addr forms: quoted, token display name, bare addr-spec with header params", () => {
  const q = parseNameAddr('"Alice" <sip:alice@h;lr>;tag=x1');
  assert.ok(q.ok);
  assert.deepEqual(q.addr, {
    displayName: "Alice",
    uri: "sip:alice@h;lr",
    params: [["tag", "x1"]],
    tag: "x1",
  });
  const t = parseNameAddr("Bob Smith <sip:bob@h>");
  assert.ok(t.ok);
  assert.equal(t.addr.displayName, "Bob Smith");
  assert.equal(t.addr.tag, undefined);
  const bare = parseNameAddr("sip:u@h;tag=x;other");
  assert.ok(bare.ok);
  assert.equal(bare.addr.uri, "sip:u@h");
  assert.equal(bare.addr.tag, "x");
  assert.deepEqual(bare.addr.params, [
    ["tag", "x"],
    ["other", undefined],
  ]);
  for (const bad of ['"unterminated <sip:a@h>', "<sip:a@h", "", "<>", "sip:a@h;=x", "a b c"])
    assert.equal(parseNameAddr(bad).ok, false, bad);
});

test("parseVia refuses what is no Via, with bad_via", () => {
  for (const bad of [
    "",
    "SIP/2.0/UDP",
    "SIP/3.0/UDP h",
    "HTTP/2.0/UDP h",
    "SIP/2.0/UDP h:0",
    "SIP/2.0/UDP h:70000",
    "SIP/2.0/UDP h;branch",
    "SIP/2.0/UDP h;BRANCH",
    "SIP/2.0/UDP h;branch=z9hG4bKa;Received",
    "SIP/2.0/UDP h;rport=x",
    "SIP/2.0/UDP h;RPORT=0",
    "SIP/2.0/UDP h junk",
    'SIP/2.0/UDP h;x="open',
  ]) {
    const r = parseVia(bad);
    assert.ok(!r.ok, bad);
    assert.equal(r.error.code, "bad_via");
  }
  const spaced = parseVia("SIP / 2.0 / tcp  host.example.com : 5061 ; branch = z9hG4bKx ; maddr=1.2.3.4");
  assert.ok(spaced.ok);
  assert.equal(spaced.via.transport, "TCP");
  assert.equal(spaced.via.port, 5061);
  assert.equal(spaced.via.branch, "z9hG4bKx");
  // The first of each parameter, whatever its case; others are kept, in order, as written.
  const mixed = parseVia("SIP/2.0/UDP h;Branch=z9hG4bKone;branch=z9hG4bKtwo;RPort=5070;ReCeIvEd=10.0.0.1;x");
  assert.ok(mixed.ok);
  assert.equal(mixed.via.branch, "z9hG4bKone");
  assert.deepEqual(mixed.via.rport, { port: 5070 });
  assert.equal(mixed.via.received, "10.0.0.1");
  assert.equal(mixed.via.params.length, 5);
  const asked = parseVia("SIP/2.0/UDP h;rport");
  assert.ok(asked.ok);
  assert.deepEqual(asked.via.rport, { port: undefined });
  assert.equal(asked.via.branch, undefined);
});

test("parseCSeq", () => {
  assert.deepEqual(parseCSeq(" 4294967295 ACK "), { ok: true, cseq: { seq: 4294967295, method: "ACK" } });
  for (const bad of ["", "1", "INVITE", "-1 INVITE", "4294967296 INVITE", "1 IN VITE", "x INVITE"]) {
    const r = parseCSeq(bad);
    assert.ok(!r.ok, bad);
    assert.equal(r.error.code, "bad_cseq");
  }
});
