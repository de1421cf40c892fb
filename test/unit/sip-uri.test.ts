import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNameAddr } from "../../src/protocols/sip/fields.ts";
import {
  canonicalHost,
  defaultPort,
  formatUri,
  hasLr,
  parseUri,
  type SipUri,
  sameHostPort,
  unescapeUri,
  uriParam,
} from "../../src/protocols/sip/uri.ts";

function uri(text: string): SipUri {
  const r = parseUri(text);
  if (!r.ok) assert.fail(`${text}: ${r.error.code}: ${r.error.message}`);
  return r.uri;
}

test("parseUri reads SIPp's Request-URI and From URI", () => {
  assert.deepEqual(uri("sip:service@127.0.0.1:5060"), {
    scheme: "sip",
    user: "service",
    password: undefined,
    host: "127.0.0.1",
    port: 5060,
    params: [],
    headers: [],
  });
  assert.deepEqual(uri("sip:127.0.0.1:5060;transport=UDP").params, [["transport", "UDP"]]);
});

test("parseUri reads every part: password, IPv6, parameters in order, headers", () => {
  const u = uri(
    "SIPS:alice:secret@[2001:db8::10]:5061;transport=tls;LR;maddr=239.255.255.1;ttl=15?subject=hi&priority=urgent",
  );
  assert.equal(u.scheme, "sips");
  assert.equal(u.user, "alice");
  assert.equal(u.password, "secret");
  assert.equal(u.host, "[2001:db8::10]");
  assert.equal(u.port, 5061);
  assert.deepEqual(u.params, [
    ["transport", "tls"],
    ["LR", undefined],
    ["maddr", "239.255.255.1"],
    ["ttl", "15"],
  ]);
  assert.deepEqual(u.headers, [
    ["subject", "hi"],
    ["priority", "urgent"],
  ]);
  assert.equal(hasLr(u), true);
  assert.equal(uriParam(u, "TRANSPORT"), "tls");
  assert.equal(uriParam(u, "user"), undefined);
});

test("parseUri keeps escapes and telephone-subscriber users as written", () => {
  const escaped = uri("sip:sip%3Auser%40example.com@company.com;other-param=summit");
  assert.equal(escaped.user, "sip%3Auser%40example.com");
  assert.equal(unescapeUri(escaped.user ?? ""), "sip:user@example.com");
  const tel = uri("sip:+1-212-555-1212:1234@gateway.com;user=phone");
  assert.equal(tel.user, "+1-212-555-1212");
  assert.equal(tel.password, "1234");
  assert.equal(uriParam(tel, "user"), "phone");
  // RFC 3261's user-unreserved has `;`: a phone-context belongs to the user part.
  assert.equal(uri("sip:+358-555-1234567;postd=pp22@foo.com;user=phone").user, "+358-555-1234567;postd=pp22");
  assert.equal(uri("sip:*67#100@pbx.local").user, "*67#100");
  assert.equal(unescapeUri("%zz"), undefined);
  assert.equal(unescapeUri("%ff"), undefined);
});

test("parseUri takes host names, IPv4 and IPv6, with or without port", () => {
  assert.equal(uri("sip:fs-1.example.com").host, "fs-1.example.com");
  assert.equal(uri("sip:fs1.example.com.:5080").port, 5080);
  assert.equal(uri("sip:[::1]").host, "[::1]");
  assert.equal(uri("sip:[::1]").port, undefined);
  assert.equal(uri("sip:[::ffff:10.0.0.1]:5062").port, 5062);
  assert.equal(uri("sip:bob@biloxi.com?Replaces=abc@h%3Bto-tag%3D1").headers[0]?.[1], "abc@h%3Bto-tag%3D1");
});

test("parseUri refuses what is no SIP URI, with an error value", () => {
  const bad: [string, string][] = [
    ["tel:+12125551212", "unsupported_scheme"],
    ["http://example.com", "unsupported_scheme"],
    ["", "bad_uri"],
    ["example.com", "bad_uri"],
    ["sip:", "bad_uri"],
    ["sip:alice@", "bad_uri"],
    ["sip:@host", "bad_uri"],
    ["sip:a b@host", "bad_uri"],
    ["sip:host:0", "bad_uri"],
    ["sip:host:65536", "bad_uri"],
    ["sip:host:", "bad_uri"],
    ["sip:host:50x", "bad_uri"],
    ["sip:[::1", "bad_uri"],
    ["sip:[::g]", "bad_uri"],
    ["sip:[fe80::1%eth0]", "bad_uri"],
    ["sip:::1", "bad_uri"],
    ["sip:1.2.3.256", "bad_uri"],
    ["sip:1.2.3", "bad_uri"],
    ["sip:-host", "bad_uri"],
    ["sip:host..com", "bad_uri"],
    ["sip:a@b@c", "bad_uri"],
    ["sip:host;", "bad_uri"],
    ["sip:host;;lr", "bad_uri"],
    ["sip:host;a=", "bad_uri"],
    ['sip:host;a="x"', "bad_uri"],
    ["sip:host?", "bad_uri"],
    ["sip:host?a", "bad_uri"],
    ["sip:host?=b", "bad_uri"],
    ["sip:al%2ice@host", "bad_uri"],
    ["sip:host\r\nVia: x", "bad_uri"],
    [`sip:${"a".repeat(9000)}`, "bad_uri"],
  ];
  for (const [text, code] of bad) {
    const r = parseUri(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.equal(r.error.code, code, text);
  }
});

test("formatUri writes a parsed URI back as it was (scheme in lower case)", () => {
  for (const text of [
    "sip:service@127.0.0.1:5060",
    "sips:alice:secret@[2001:db8::10]:5061;transport=tls;LR;maddr=239.255.255.1?subject=hi&x=",
    "sip:+358-555-1234567;postd=pp22@foo.com;user=phone",
    "sip:10.0.0.1;lr;ftag=abc",
  ])
    assert.equal(formatUri(uri(text)), text);
  assert.equal(formatUri(uri("SIP:h")), "sip:h");
  assert.equal(formatUri({ ...uri("sip:h:5"), host: "::1" }), "sip:[::1]:5");
});

test("Route values from name-addrs parse, with their ;lr", () => {
  for (const value of ["<sip:10.0.0.1;lr>", '"proxy" <sip:p1.example.com:5070;lr;transport=tcp>;x=1']) {
    const addr = parseNameAddr(value);
    assert.ok(addr.ok);
    if (addr.ok) assert.equal(hasLr(uri(addr.addr.uri)), true);
  }
  assert.equal(hasLr(uri("sip:10.0.0.1;transport=udp")), false);
});

test("sameHostPort: host in any case or IPv6 spelling, port by default 5060, 5061 for sips and TLS", () => {
  const us = { host: "Proxy.Example.com", port: 5060 };
  assert.equal(sameHostPort(uri("sip:proxy.example.COM;lr"), us), true);
  assert.equal(sameHostPort(uri("sip:proxy.example.com.:5060"), us), true);
  assert.equal(sameHostPort(uri("sip:proxy.example.com:5070"), us), false);
  assert.equal(sameHostPort(uri("sips:proxy.example.com"), us), false);
  assert.equal(sameHostPort(uri("sips:proxy.example.com"), { ...us, port: 5061 }), true);
  assert.equal(sameHostPort(uri("sip:proxy.example.com;transport=TLS"), { ...us, port: 5061 }), true);
  assert.equal(sameHostPort(uri("sip:proxy.example.com"), { ...us, port: 5080, defaultPort: 5080 }), true);
  assert.equal(sameHostPort(uri("sip:other.example.com"), us), false);
  assert.equal(sameHostPort(uri("sip:[0:0:0:0:0:0:0:1]:5060"), { host: "::1", port: 5060 }), true);
  assert.equal(sameHostPort(uri("sip:[::1]"), { host: "[::1]", port: 5060 }), true);
  assert.equal(sameHostPort(uri("sip:[::2]"), { host: "[::1]", port: 5060 }), false);
  assert.equal(sameHostPort(uri("sip:10.0.0.1"), { host: "10.0.0.1", port: 5060 }), true);
  assert.equal(canonicalHost("[2001:DB8:0:0::1]"), "[2001:db8::1]");
  assert.equal(canonicalHost("[fe80::1%eth0]"), "[fe80::1%eth0]");
  assert.equal(defaultPort(uri("sip:h")), 5060);
  assert.equal(defaultPort(uri("sips:h")), 5061);
});
