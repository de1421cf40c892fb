import assert from "node:assert/strict";
import { test } from "node:test";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { buildResponse } from "../../src/protocols/sip/response.ts";
import {
  type ProxyAddress,
  preprocessRoute,
  recordRouteValue,
  validateRequest,
} from "../../src/protocols/sip/route.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipRequest } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP, OPTIONS, sip } from "../fixtures/sip/samples.ts";

function request(bytes: Buffer): SipRequest {
  const r = parseMessage(bytes, { stream: false });
  if (!r.ok || r.message.kind !== "request") assert.fail("not a request");
  return r.message;
}

/** An in-dialog BYE with the given Request-URI and Route lines. */
function bye(uri: string, routes: readonly string[]): SipRequest {
  return request(
    sip([
      `BYE ${uri} SIP/2.0`,
      "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-5",
      ...routes,
      "From: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001",
      "To: service <sip:service@127.0.0.1:5060>;tag=as5f1c2b",
      "Call-ID: 1-12345@127.0.0.1",
      "CSeq: 2 BYE",
      "Max-Forwards: 70",
      "Content-Length: 0",
    ]),
  );
}

const US: ProxyAddress = { host: "10.0.0.1", port: 5060, transport: "udp" };

function rejection(req: SipRequest) {
  const r = validateRequest(req);
  if (r.ok) assert.fail("expected a rejection");
  return r.rejection;
}

test("validateRequest lets SIPp's INVITE and an OPTIONS through", () => {
  assert.deepEqual(validateRequest(request(INVITE_SIPP)), { ok: true });
  assert.deepEqual(validateRequest(request(OPTIONS)), { ok: true });
  const noMaxForwards = request(INVITE_SIPP);
  const without = {
    ...noMaxForwards,
    headers: noMaxForwards.headers.filter((h) => h.name !== "max-forwards"),
  };
  assert.deepEqual(validateRequest(without), { ok: true });
});

function withHeaders(req: SipRequest, extra: readonly [string, string][]): SipRequest {
  return {
    ...req,
    headers: [
      ...req.headers.filter((h) => h.name !== "max-forwards"),
      ...extra.map(([n, v]) => ({ name: n.toLowerCase(), rawName: n, value: v })),
    ],
  };
}

test("validateRequest: Max-Forwards 0 → 483, not a number → 400", () => {
  const invite = request(INVITE_SIPP);
  const zero = rejection(withHeaders(invite, [["Max-Forwards", "0"]]));
  assert.equal(zero.status, 483);
  assert.equal(zero.error.code, "max_forwards_zero");
  assert.deepEqual(rejection(withHeaders(invite, [["Max-Forwards", "seventy"]])).status, 400);
  assert.deepEqual(rejection(withHeaders(invite, [["Max-Forwards", "-1"]])).status, 400);
  assert.deepEqual(validateRequest(withHeaders(invite, [["Max-Forwards", "1"]])), { ok: true });
});

test("validateRequest: Proxy-Require → 420 with Unsupported listing every option tag", () => {
  const req = withHeaders(request(INVITE_SIPP), [
    ["Max-Forwards", "70"],
    ["Proxy-Require", "foo, sec-agree"],
    ["Proxy-Require", "bar"],
  ]);
  const r = rejection(req);
  assert.equal(r.status, 420);
  assert.equal(r.error.code, "unsupported_extension");
  assert.deepEqual(r.headers, [["Unsupported", "foo, sec-agree, bar"]]);
  const res = buildResponse(req, r.status, { toTag: "t1", headers: r.headers });
  assert.ok(res.ok);
  if (res.ok) {
    const text = serializeMessage(res.response).toString();
    assert.match(text, /^SIP\/2\.0 420 Bad Extension\r\n/);
    assert.match(text, /\r\nUnsupported: foo, sec-agree, bar\r\n/);
  }
});

test("validateRequest: a tel: Request-URI → 416, a broken one → 400", () => {
  const invite = request(INVITE_SIPP);
  assert.equal(rejection({ ...invite, uri: "tel:+12125551212" }).status, 416);
  const broken = rejection({ ...invite, uri: "sip:alice@" });
  assert.equal(broken.status, 400);
  assert.equal(broken.error.code, "bad_request_uri");
});

test("preprocessRoute pops our loose-route Route and leaves the rest", () => {
  const req = bye("sip:service@10.0.0.8:5060", ["Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2;lr;transport=tcp>"]);
  const r = preprocessRoute(req, US);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.strict, false);
  assert.equal(r.popped, 1);
  assert.equal(r.message.uri, "sip:service@10.0.0.8:5060");
  assert.deepEqual(headerValues(r.message, "route"), ["<sip:10.0.0.2;lr;transport=tcp>"]);
  assert.equal(headerValues(req, "route").length, 2, "the given message is left as it was");
  // Our Route on a line of its own disappears with its line.
  const alone = preprocessRoute(bye("sip:service@10.0.0.8", ["Route: <sip:10.0.0.1:5060;lr>"]), US);
  assert.ok(alone.ok && alone.popped === 1 && alone.message.headers.every((h) => h.name !== "route"));
});

test("preprocessRoute pops both values of a double Record-Route, and none that are not us", () => {
  const double = bye("sip:service@10.0.0.8", [
    "Route: <sip:10.0.0.1;transport=tcp;lr>",
    "Route: <sip:10.0.0.1;transport=udp;lr>",
    "Route: <sip:10.0.0.3;lr>",
  ]);
  const r = preprocessRoute(double, US);
  assert.ok(r.ok && r.popped === 2);
  if (r.ok) assert.deepEqual(headerValues(r.message, "route"), ["<sip:10.0.0.3;lr>"]);
  const notUs = bye("sip:service@10.0.0.8", ["Route: <sip:10.0.0.1:5070;lr>", "Route: <sip:10.0.0.1;lr>"]);
  const n = preprocessRoute(notUs, US);
  assert.ok(n.ok && n.popped === 0 && n.message === notUs);
  const none = bye("sip:service@10.0.0.8", []);
  assert.deepEqual(preprocessRoute(none, US), { ok: true, message: none, strict: false, popped: 0 });
});

test("preprocessRoute, strict router upstream: the last Route becomes the Request-URI", () => {
  const req = bye("sip:10.0.0.1;lr", ["Route: <sip:10.0.0.2;lr>, <sip:service@10.0.0.8:5060;transport=udp>"]);
  const r = preprocessRoute(req, US);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.strict, true);
  assert.equal(r.popped, 0);
  assert.equal(r.message.uri, "sip:service@10.0.0.8:5060;transport=udp");
  assert.deepEqual(headerValues(r.message, "route"), ["<sip:10.0.0.2;lr>"]);
  assert.match(
    serializeMessage(r.message).toString(),
    /^BYE sip:service@10\.0\.0\.8:5060;transport=udp SIP\/2\.0\r\n/,
  );
  // A request for us with no Route is for us, not a strict router's.
  const options = bye("sip:10.0.0.1", []);
  assert.deepEqual(preprocessRoute(options, US), { ok: true, message: options, strict: false, popped: 0 });
});

test("preprocessRoute with IPv6 and compact-free but mixed-case hosts", () => {
  const v6: ProxyAddress = { host: "2001:db8::1", port: 5060, transport: "tcp" };
  const req = bye("sip:service@[2001:db8::8]", [
    "Route: <sip:[2001:DB8:0::1];lr>",
    "Route: <sip:[2001:db8::2];lr>",
  ]);
  const r = preprocessRoute(req, v6);
  assert.ok(r.ok && r.popped === 1);
  if (r.ok) assert.equal(headerValue(r.message, "route"), "<sip:[2001:db8::2];lr>");
});

test("preprocessRoute: a Route it must read that is no SIP address → bad_route", () => {
  for (const route of ["Route: <tel:+1555>", "Route: <sip:10.0.0.1;lr", "Route: <sip:a@>"]) {
    const r = preprocessRoute(bye("sip:service@10.0.0.8", [route]), US);
    assert.equal(r.ok ? "" : r.error.code, "bad_route", route);
  }
  const strictBad = preprocessRoute(bye("sip:10.0.0.1", ["Route: <sip:10.0.0.2;lr>, <http://x>"]), US);
  assert.equal(strictBad.ok ? "" : strictBad.error.code, "bad_route");
});

test("preprocessRoute takes our values off in one pass across lines; more than 16 of ours → bad_route, fast", () => {
  const ours = "<sip:10.0.0.1:5060;lr>";
  const r = preprocessRoute(
    bye("sip:x@10.0.0.9", [`Route: ${ours}, ${ours}`, `Route: ${ours}, <sip:10.0.0.2;lr>`]),
    US,
  );
  assert.ok(r.ok);
  assert.equal(r.popped, 3);
  assert.deepEqual(headerValues(r.message, "route"), ["<sip:10.0.0.2;lr>"]);
  const sixteen = preprocessRoute(bye("sip:x@10.0.0.9", [`Route: ${Array(16).fill(ours).join(",")}`]), US);
  assert.ok(sixteen.ok);
  assert.equal(sixteen.popped, 16);
  assert.deepEqual(headerValues(sixteen.message, "route"), []);
  // Thousands of our values (a 56 KB datagram holds 2,000): refused after the 17th, not parsed
  // and re-split one by one (the old code took 520 ms of CPU for 3,000).
  const one = bye("sip:x@10.0.0.9", [`Route: ${ours}`]);
  const long = Array(3_000).fill(ours).join(",");
  const many = { ...one, headers: one.headers.map((h) => (h.name === "route" ? { ...h, value: long } : h)) };
  const started = performance.now();
  const refused = preprocessRoute(many, US);
  const ms = performance.now() - started;
  assert.ok(!refused.ok && refused.error.code === "bad_route");
  assert.ok(ms < 100, `${ms} ms`);
});

test("recordRouteValue: <sip:host:port;transport=...;lr;extra>", () => {
  assert.deepEqual(recordRouteValue(US), { ok: true, value: "<sip:10.0.0.1:5060;transport=udp;lr>" });
  assert.deepEqual(
    recordRouteValue({ host: "lb.example.com", port: 5061, transport: "TLS" }, [
      ["tl", "aGVsbG8"],
      ["x", undefined],
    ]),
    {
      ok: true,
      value: "<sip:lb.example.com:5061;transport=tls;lr;tl=aGVsbG8;x>",
    },
  );
  assert.deepEqual(recordRouteValue({ host: "::1", port: 5060, transport: "tcp" }), {
    ok: true,
    value: "<sip:[::1]:5060;transport=tcp;lr>",
  });
  const bad: [ProxyAddress, [string, string | undefined][]][] = [
    [{ ...US, host: "bad host" }, []],
    [{ ...US, host: "" }, []],
    [{ ...US, port: 0 }, []],
    [{ ...US, port: 70000 }, []],
    [{ ...US, transport: "u;dp" }, []],
    [{ ...US, transport: "" }, []],
    [US, [["lr", undefined]]],
    [US, [["Transport", "tcp"]]],
    [US, [["tok", "a;b"]]],
    [US, [["tok", "a>b"]]],
    [US, [["", "v"]]],
  ];
  for (const [us, extra] of bad) {
    const r = recordRouteValue(us, extra);
    assert.equal(r.ok ? "" : r.error.code, "bad_value", JSON.stringify([us, extra]));
  }
});
