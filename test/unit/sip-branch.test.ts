import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BRANCH_MAGIC,
  type BranchParts,
  branchParts,
  isRfc3261Branch,
  loopCheck,
  loopKey,
  newBranch,
  statelessBranch,
} from "../../src/protocols/sip/branch.ts";
import { headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import type { SipRequest } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP, sip } from "../fixtures/sip/samples.ts";

function request(bytes: Buffer): SipRequest {
  const r = parseMessage(bytes, { stream: false });
  if (!r.ok || r.message.kind !== "request") assert.fail("not a request");
  return r.message;
}

function parts(req: SipRequest): BranchParts {
  const r = branchParts(req);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.parts;
}

/** The request with one header's value replaced (by canonical name). */
function withHeader(req: SipRequest, name: string, value: string): SipRequest {
  return { ...req, headers: req.headers.map((h) => (h.name === name ? { ...h, value } : h)) };
}

const BRANCH_RE = /^z9hG4bK[A-Za-z0-9_-]{22,}$/;

test("newBranch: the magic cookie and 24 base64url chars, 10,000 all distinct", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const b = newBranch();
    assert.match(b, BRANCH_RE);
    assert.ok(isRfc3261Branch(b));
    seen.add(b);
  }
  assert.equal(seen.size, 10_000);
  assert.match(newBranch("abcdefghijk"), /^z9hG4bK[A-Za-z0-9_-]{24}\.abcdefghijk$/);
});

test("isRfc3261Branch: the cookie, case-sensitive, followed by something, a token", () => {
  assert.equal(isRfc3261Branch("z9hG4bK-12345-1-0"), true);
  assert.equal(isRfc3261Branch("z9hG4bK776asdhds"), true);
  for (const b of [undefined, "", "z9hG4bK", "Z9HG4BK776asdhds", "776asdhds", "z9hG4bK a", 'z9hG4bK"x"'])
    assert.equal(isRfc3261Branch(b), false, String(b));
  assert.equal(BRANCH_MAGIC, "z9hG4bK");
});

test("branchParts reads SIPp's INVITE; errors are values", () => {
  const p = parts(request(INVITE_SIPP));
  assert.deepEqual(p, {
    topVia: "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0",
    topBranch: "z9hG4bK-12345-1-0",
    callId: "1-12345@127.0.0.1",
    cseq: 1,
    fromTag: "12345SIPpTag001",
    toTag: undefined,
    requestUri: "sip:service@127.0.0.1:5060",
    routes: [],
  });
  const req = request(INVITE_SIPP);
  const noVia = branchParts({ ...req, headers: req.headers.filter((h) => h.name !== "via") });
  assert.equal(noVia.ok ? "" : noVia.error.code, "missing_header");
  const badVia = branchParts(withHeader(req, "via", "SIP/3.0/UDP h"));
  assert.equal(badVia.ok ? "" : badVia.error.code, "bad_via");
  const badCSeq = branchParts(withHeader(req, "cseq", "x INVITE"));
  assert.equal(badCSeq.ok ? "" : badCSeq.error.code, "bad_cseq");
});

test("statelessBranch: the same for a retransmission, its CANCEL and its non-2xx ACK; else different", () => {
  const invite = request(INVITE_SIPP);
  const b = statelessBranch(parts(invite));
  assert.match(b, /^z9hG4bK[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/);
  assert.ok(isRfc3261Branch(b));
  assert.equal(statelessBranch(parts(request(INVITE_SIPP))), b);
  const cancel = request(
    sip([
      "CANCEL sip:service@127.0.0.1:5060 SIP/2.0",
      "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0",
      "From: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001",
      "To: service <sip:service@127.0.0.1:5060>",
      "Call-ID: 1-12345@127.0.0.1",
      "CSeq: 1 CANCEL",
      "Max-Forwards: 70",
      "Content-Length: 0",
    ]),
  );
  assert.equal(statelessBranch(parts(cancel)), b);
  const ack = withHeader({ ...cancel, method: "ACK" }, "cseq", "1 ACK");
  const ackTagged = withHeader(ack, "to", "service <sip:service@127.0.0.1:5060>;tag=as5f1c2b");
  assert.equal(statelessBranch(parts(ackTagged)), b);
  // A new transaction: new client branch, or (nonsense but possible) another CSeq alone.
  assert.notEqual(
    statelessBranch(parts(withHeader(invite, "via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-2"))),
    b,
  );
  assert.notEqual(statelessBranch(parts(withHeader(invite, "cseq", "2 INVITE"))), b);
});

test("statelessBranch for a pre-RFC 3261 client hashes Call-ID, CSeq, tags, Request-URI, top Via", () => {
  const old = withHeader(request(INVITE_SIPP), "via", "SIP/2.0/UDP 10.1.1.1:5060;branch=1234");
  const b = statelessBranch(parts(old));
  assert.equal(statelessBranch(parts(old)), b);
  assert.ok(isRfc3261Branch(b));
  for (const [name, value] of [
    ["cseq", "2 INVITE"],
    ["call-id", "other@h"],
    ["from", "<sip:a@h>;tag=other"],
    ["to", "<sip:service@127.0.0.1:5060>;tag=t"],
    ["via", "SIP/2.0/UDP 10.1.1.2:5060;branch=1234"],
  ] as const)
    assert.notEqual(statelessBranch(parts(withHeader(old, name, value))), b, name);
  assert.notEqual(statelessBranch(parts({ ...old, uri: "sip:other@127.0.0.1" })), b);
  const noBranch = withHeader(old, "via", "SIP/2.0/UDP 10.1.1.1:5060");
  assert.equal(statelessBranch(parts(noBranch)), statelessBranch(parts(noBranch)));
});

const US = { host: "10.0.0.1", port: 5060 };

/** The request as it would come back to us after we forwarded it with `ourBranch`, then B did. */
function cameBack(req: SipRequest, ourVia: string): SipRequest {
  return {
    ...req,
    headers: [
      { name: "via", rawName: "Via", value: "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKdownstream" },
      { name: "via", rawName: "Via", value: ourVia },
      ...req.headers,
    ],
  };
}

test("loopCheck: our sent-by with the same loop key is a loop; a changed Request-URI is a spiral", () => {
  const invite = request(INVITE_SIPP);
  const ours = statelessBranch(parts(invite));
  // First arrival: no Via of ours.
  assert.equal(loopCheck(headerValues(invite, "via"), US, ours), false);
  const looped = cameBack(invite, `SIP/2.0/UDP 10.0.0.1:5060;branch=${ours}`);
  const again = statelessBranch(parts(looped));
  assert.notEqual(again, ours, "another top Via, another transaction part");
  assert.equal(loopCheck(headerValues(looped, "via"), US, again), true);
  // The same with a stateful branch carrying the loop key, and with a default port.
  const stateful = newBranch(loopKey(parts(invite)));
  const back = cameBack(invite, `SIP/2.0/UDP 10.0.0.1;branch=${stateful}`);
  assert.equal(loopCheck(headerValues(back, "via"), US, newBranch(loopKey(parts(back)))), true);
  // A spiral: the request comes back for another user.
  const spiral = { ...looped, uri: "sip:other@127.0.0.1:5060" };
  assert.equal(loopCheck(headerValues(spiral, "via"), US, statelessBranch(parts(spiral))), false);
  // Another proxy's Via with that branch, or ours on another port: no loop.
  assert.equal(loopCheck(headerValues(looped, "via"), { host: "10.0.0.2", port: 5060 }, again), false);
  assert.equal(loopCheck(headerValues(looped, "via"), { host: "10.0.0.1", port: 5070 }, again), false);
  // Unreadable Vias are skipped, not thrown on.
  assert.equal(loopCheck(["garbage", "SIP/2.0/UDP h"], US, again), false);
});

test("loopCheck compares hosts as sameHost does (case, IPv6 spelling)", () => {
  const v6 = { host: "2001:db8::1", port: 5060 };
  const key = "abcdefghijk";
  const vias = [`SIP/2.0/TCP [2001:DB8:0::1]:5060;branch=z9hG4bKxyz.${key}`];
  assert.equal(loopCheck(vias, v6, newBranch(key)), true);
  assert.equal(
    loopCheck([`SIP/2.0/TLS [2001:db8::1];branch=z9hG4bKq.${key}`], { ...v6, port: 5061 }, `x.${key}`),
    true,
  );
  assert.equal(
    loopCheck(
      [`SIP/2.0/UDP PROXY.example.com;branch=z9hG4bKq.${key}`],
      { host: "proxy.example.com", port: 5060 },
      `x.${key}`,
    ),
    true,
  );
});
