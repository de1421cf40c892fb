import assert from "node:assert/strict";
import { test } from "node:test";
import { fromTag, parseCSeq, parseNameAddr, tagOf, toTag } from "../../src/protocols/sip/fields.ts";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import type { SipMessage } from "../../src/protocols/sip/types.ts";
import { parseVia } from "../../src/protocols/sip/via.ts";
import { INVITE_SIPP, OK_200, OPTIONS, RINGING_180, sip } from "../fixtures/sip/samples.ts";

function parse(bytes: Buffer, stream = false): SipMessage {
  const r = parseMessage(bytes, { stream });
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.message;
}

function code(bytes: Buffer | string, stream = false, limits = {}): string {
  const r = parseMessage(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes, {
    stream,
    limits,
  });
  return r.ok ? "ok" : r.error.code;
}

test("a SIPp INVITE with SDP: start line, headers in order, body by Content-Length", () => {
  const m = parse(INVITE_SIPP, true);
  assert.equal(m.kind, "request");
  assert.ok(m.kind === "request");
  assert.equal(m.method, "INVITE");
  assert.equal(m.uri, "sip:service@127.0.0.1:5060");
  assert.equal(m.version, "SIP/2.0");
  assert.deepEqual(
    m.headers.map((h) => h.name),
    [
      "via",
      "from",
      "to",
      "call-id",
      "cseq",
      "contact",
      "max-forwards",
      "subject",
      "content-type",
      "content-length",
    ],
  );
  assert.equal(headerValue(m, "CALL-ID"), "1-12345@127.0.0.1");
  assert.ok(m.body.toString("latin1").startsWith("v=0\r\no=user1"));
  assert.equal(m.body.length, Number(headerValue(m, "content-length")));
  const via = parseVia(headerValue(m, "via") ?? "");
  assert.ok(via.ok);
  assert.equal(via.via.transport, "UDP");
  assert.equal(via.via.host, "127.0.0.1");
  assert.equal(via.via.port, 5061);
  assert.equal(via.via.branch, "z9hG4bK-12345-1-0");
  assert.equal(tagOf(headerValue(m, "from") ?? ""), "12345SIPpTag001");
  assert.equal(tagOf(headerValue(m, "to") ?? ""), undefined);
  assert.deepEqual(parseCSeq(headerValue(m, "cseq") ?? ""), { ok: true, cseq: { seq: 1, method: "INVITE" } });
});

test("180 and 200 responses: status, reason, Record-Route and Via lists", () => {
  const ringing = parse(RINGING_180);
  assert.ok(ringing.kind === "response");
  assert.equal(ringing.status, 180);
  assert.equal(ringing.reason, "Ringing");
  assert.equal(ringing.body.length, 0);
  const ok = parse(OK_200);
  assert.ok(ok.kind === "response");
  assert.equal(ok.status, 200);
  assert.equal(ok.reason, "OK");
  assert.deepEqual(headerValues(ok, "record-route"), ["<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"]);
  assert.equal(headerValues(ok, "via").length, 2);
  assert.equal(tagOf(headerValue(ok, "to") ?? ""), "as5f1c2b");
  assert.equal(fromTag(ok), "12345SIPpTag001");
  assert.equal(toTag(ok), "as5f1c2b");
  assert.equal(toTag(parse(INVITE_SIPP)), undefined);
  assert.equal(headerValue(ok, "content-type"), "application/sdp");
});

test("OPTIONS without a body, and a reason phrase with spaces", () => {
  const m = parse(OPTIONS, true);
  assert.ok(m.kind === "request");
  assert.equal(m.method, "OPTIONS");
  assert.equal(m.body.length, 0);
  const r = parse(sip(["SIP/2.0 503 Service Unavailable", ...basic("OPTIONS"), "Content-Length: 0"]));
  assert.ok(r.kind === "response");
  assert.equal(r.reason, "Service Unavailable");
  const empty = parse(sip(["SIP/2.0 200", ...basic("OPTIONS")]));
  assert.ok(empty.kind === "response");
  assert.equal(empty.reason, "");
});

function basic(method: string): string[] {
  return [
    "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKabc",
    "From: <sip:a@10.0.0.9>;tag=1",
    "To: <sip:b@10.0.0.8>",
    "Call-ID: c1@10.0.0.9",
    `CSeq: 7 ${method}`,
  ];
}

test("compact and any-case names are one header", () => {
  const m = parse(
    sip([
      "OPTIONS sip:b@10.0.0.8 SIP/2.0",
      "v: SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK1",
      "f: <sip:a@h>;tag=9",
      "t: sip:b@h",
      "i: x@y",
      "CSEQ: 1 OPTIONS",
      "m: <sip:a@10.0.0.9>",
      "k: timer, 100rel",
      "x: 1800",
      "o: presence",
      "u: dialog",
      "l: 0",
    ]),
    true,
  );
  assert.deepEqual(
    m.headers.map((h) => h.name),
    [
      ...["via", "from", "to", "call-id", "cseq", "contact", "supported", "session-expires", "event"],
      ...["allow-events", "content-length"],
    ],
  );
  assert.equal(m.headers[0]?.rawName, "v");
  assert.deepEqual(headerValues(m, "Supported"), ["timer", "100rel"]);
  assert.equal(headerValue(m, "call-id"), "x@y");
  assert.equal(headerValue(m, "i"), "x@y");
});

test("several Vias on one line (as SIPp writes them), and on several lines", () => {
  const m = parse(
    sip([
      "BYE sip:b@h SIP/2.0",
      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
      "Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK3;received=10.1.1.1;rport=4000",
      ...basic("BYE").slice(1),
    ]),
  );
  const vias = headerValues(m, "via").map((v) => parseVia(v));
  assert.equal(vias.length, 3);
  const [a, b, c] = vias;
  assert.ok(a?.ok && b?.ok && c?.ok);
  assert.equal(a.via.host, "10.0.0.1");
  assert.deepEqual(a.via.rport, { port: undefined });
  assert.equal(b.via.port, undefined);
  assert.equal(b.via.rport, undefined);
  assert.equal(c.via.host, "[2001:db8::1]");
  assert.equal(c.via.port, 5070);
  assert.equal(c.via.received, "10.1.1.1");
  assert.deepEqual(c.via.rport, { port: 4000 });
  assert.deepEqual(c.via.params, [
    ["branch", "z9hG4bK3"],
    ["received", "10.1.1.1"],
    ["rport", "4000"],
  ]);
});

test("folded lines are unfolded into one value", () => {
  const m = parse(
    sip([
      "OPTIONS sip:b@h SIP/2.0",
      ...basic("OPTIONS"),
      "Subject: I know you're there,",
      "   pick up the phone",
      "\t and talk to me!",
      "Route: <sip:p1;lr>,",
      " <sip:p2;lr>",
    ]),
  );
  assert.equal(headerValue(m, "subject"), "I know you're there, pick up the phone and talk to me!");
  assert.deepEqual(headerValues(m, "route"), ["<sip:p1;lr>", "<sip:p2;lr>"]);
});

test("LF-only line ends and CRLFs before the start line are accepted", () => {
  const text = `\r\n\r\nOPTIONS sip:b@h SIP/2.0\n${basic("OPTIONS").join("\n")}\nContent-Length: 3\n\nabc`;
  const m = parse(Buffer.from(text), true);
  assert.equal(m.body.toString(), "abc");
  assert.equal(headerValue(m, "cseq"), "7 OPTIONS");
});

test("commas inside a quoted display name or inside <...> do not separate values", () => {
  const m = parse(
    sip([
      "REGISTER sip:reg SIP/2.0",
      ...basic("REGISTER"),
      'Contact: "Doe, John \\"JD\\"" <sip:jd@h;x=a,b>;expires=60, <sip:jd@h2>',
    ]),
  );
  const contacts = headerValues(m, "contact");
  assert.equal(contacts.length, 2);
  const first = parseNameAddr(contacts[0] ?? "");
  assert.ok(first.ok);
  assert.equal(first.addr.displayName, 'Doe, John "JD"');
  assert.equal(first.addr.uri, "sip:jd@h;x=a,b");
  assert.deepEqual(first.addr.params, [["expires", "60"]]);
});

test("non-ASCII values are read as UTF-8", () => {
  const m = parse(sip(["OPTIONS sip:b@h SIP/2.0", ...basic("OPTIONS"), "Subject: Grüße 📞"]));
  assert.equal(headerValue(m, "subject"), "Grüße 📞");
});

test("a value ending in a UTF-8 character whose last byte is 0xA0 keeps it (only SP and HTAB are trimmed)", () => {
  // "à" is C3 A0 and "Š" C5 A0: String.trim would take the A0 off the latin1 view and leave
  // half a character, read back as U+FFFD.
  const m = parse(
    sip(["OPTIONS sip:b@h SIP/2.0", ...basic("OPTIONS"), "Subject: voilà \t", "Organization: \tŠ", " à"]),
  );
  assert.equal(headerValue(m, "subject"), "voilà");
  assert.equal(headerValue(m, "organization"), "Š à");
});

const REQ = ["OPTIONS sip:b@h SIP/2.0", ...basic("OPTIONS")];

test("control bytes and non-ASCII are found wherever they sit in the head, by the line they are on", () => {
  // The head is scanned once for them; the line is then named. The last line before the empty
  // one, LF-only line ends, and a bare CR at a line's end are the edges of that scan.
  const errorOf = (text: string) => {
    const r = parseMessage(Buffer.from(text, "latin1"), { stream: false });
    return r.ok ? "ok" : `${r.error.code}: ${r.error.message}`;
  };
  const n = REQ.length + 1;
  assert.equal(
    errorOf(`${REQ.join("\r\n")}\r\nX: a\x7f\r\n\r\n`),
    `bad_header_line: line ${n} holds control bytes`,
  );
  assert.equal(
    errorOf(`${REQ.join("\r\n")}\r\nX: a\r\r\n\r\n`),
    `bad_header_line: line ${n} holds control bytes`,
  );
  assert.equal(errorOf(`${REQ.join("\n")}\nX: a\x01\n\n`), `bad_header_line: line ${n} holds control bytes`);
  assert.equal(errorOf(`${REQ.join("\n")}\nX: a\n\n`), "ok");
  assert.equal(
    errorOf(`${REQ[0]}\r\nY: \x02\r\n${REQ.slice(1).join("\r\n")}\r\n\r\n`),
    "bad_header_line: line 2 holds control bytes",
  );
  // A control byte in the body is the body's business.
  assert.equal(errorOf(`${REQ.join("\r\n")}\r\nContent-Length: 2\r\n\r\n\x00\r`), "ok");
  const m = parse(Buffer.from(`${REQ.join("\n")}\nSubject: Gr\xc3\xbc\xc3\x9fe\n\n`, "latin1"));
  assert.equal(headerValue(m, "subject"), "Grüße");
});

test("every error code", () => {
  const cases: [string, string, boolean?, object?][] = [
    ["bad_start_line", "HELLO\r\n\r\n"],
    ["bad_start_line", "OPTIONS  sip:b@h SIP/2.0\r\n\r\n"],
    ["bad_start_line", "SIP/2.0 99 Low\r\n\r\n"],
    ["bad_start_line", "SIP/2.0 2000 OK\r\n\r\n"],
    ["bad_start_line", "OPT\x01IONS sip:b@h SIP/2.0\r\n\r\n"],
    ["bad_version", "OPTIONS sip:b@h SIP/3.0\r\n\r\n"],
    ["bad_version", "GET / HTTP/1.1\r\n\r\n"],
    ["bad_version", "SIP/1.0 200 OK\r\n\r\n"],
    ["truncated", ""],
    ["truncated", "OPTIONS sip:b@h SIP/2.0"],
    ["truncated", `${REQ.join("\r\n")}\r\n`],
    ["bad_header_line", `${REQ.join("\r\n")}\r\nno colon here\r\n\r\n`],
    ["bad_header_line", `${REQ.join("\r\n")}\r\nBad Name: x\r\n\r\n`],
    ["bad_header_line", `${REQ.join("\r\n")}\r\n: x\r\n\r\n`],
    ["bad_header_line", `${REQ.join("\r\n")}\r\nX: a\rb\r\n\r\n`],
    ["bad_header_line", `${REQ.join("\r\n")}\r\nX: a\x00b\r\n\r\n`],
    ["bad_header_line", `${REQ[0]}\r\n continued\r\n${REQ.slice(1).join("\r\n")}\r\n\r\n`],
    ["missing_header", `${REQ.filter((l) => !l.startsWith("Via")).join("\r\n")}\r\n\r\n`],
    ["missing_header", `${REQ.filter((l) => !l.startsWith("Call-ID")).join("\r\n")}\r\n\r\n`],
    ["missing_header", `${REQ.filter((l) => !l.startsWith("CSeq")).join("\r\n")}\r\n\r\n`],
    ["missing_header", `${REQ.filter((l) => !l.startsWith("From")).join("\r\n")}\r\n\r\n`],
    ["missing_header", `${REQ.filter((l) => !l.startsWith("To")).join("\r\n")}\r\n\r\n`],
    ["bad_cseq", `${REQ.join("\r\n")}\r\nCSeq: 8 OPTIONS\r\n\r\n`],
    ["bad_cseq", `${REQ.join("\r\n").replace("CSeq: 7 OPTIONS", "CSeq: 7 INVITE")}\r\n\r\n`],
    ["bad_cseq", `${REQ.join("\r\n").replace("CSeq: 7 OPTIONS", "CSeq: seven OPTIONS")}\r\n\r\n`],
    ["bad_call_id", `${REQ.join("\r\n").replace(/Call-ID: .*/, "Call-ID: ")}\r\n\r\n`],
    ["bad_call_id", `${REQ.join("\r\n").replace(/Call-ID: .*/, "Call-ID: a b")}\r\n\r\n`],
    ["bad_call_id", `${REQ.join("\r\n").replace(/Call-ID: .*/, "Call-ID: a@b@c")}\r\n\r\n`],
    ["bad_content_length", `${REQ.join("\r\n")}\r\nContent-Length: ten\r\n\r\n`],
    ["bad_content_length", `${REQ.join("\r\n")}\r\nContent-Length: -1\r\n\r\n`],
    ["bad_content_length", `${REQ.join("\r\n")}\r\nContent-Length: 5\r\n\r\nabc`],
    ["bad_content_length", `${REQ.join("\r\n")}\r\nl: 1\r\nContent-Length: 0\r\n\r\nx`],
    ["missing_content_length", `${REQ.join("\r\n")}\r\n\r\n`, true],
    ["too_large", `${REQ.join("\r\n")}\r\nContent-Length: 0\r\n\r\n`, false, { maxMessageBytes: 100 }],
    ["too_many_headers", `${REQ.join("\r\n")}\r\nA: 1\r\nB: 2\r\n\r\n`, false, { maxHeaders: 6 }],
    [
      "header_too_large",
      `${REQ.join("\r\n")}\r\nA: ${"a".repeat(50)}\r\n ${"b".repeat(10)}\r\n\r\n`,
      false,
      { maxHeaderValueBytes: 60 },
    ],
  ];
  for (const [want, text, stream, limits] of cases) assert.equal(code(text, stream, limits), want, text);
  // The edges of those limits pass.
  assert.equal(code(`${REQ.join("\r\n")}\r\nA: 1\r\n\r\n`, false, { maxHeaders: 6 }), "ok");
  assert.equal(
    code(`${REQ.join("\r\n")}\r\nA: ${"a".repeat(50)}\r\n ${"b".repeat(9)}\r\n\r\n`, false, {
      maxHeaderValueBytes: 60,
    }),
    "ok",
  );
  const exact = `${REQ.join("\r\n")}\r\n\r\n`;
  assert.equal(code(exact, false, { maxMessageBytes: exact.length }), "ok");
  assert.equal(code(exact, false, { maxMessageBytes: exact.length - 1 }), "too_large");
});

test("UDP: no Content-Length means the rest of the datagram; bytes after the body are ignored", () => {
  const noLength = parse(Buffer.from(`${REQ.join("\r\n")}\r\n\r\nhello`));
  assert.equal(noLength.body.toString(), "hello");
  const extra = parse(Buffer.from(`${REQ.join("\r\n")}\r\nContent-Length: 2\r\n\r\nhello`));
  assert.equal(extra.body.toString(), "he");
});

test("the default limits: 65,535 bytes, 256 headers, 8 KiB a value", () => {
  const many = [...REQ, ...Array.from({ length: 251 }, (_, i) => `X-${i}: ${i}`)];
  assert.equal(code(sip(many)), "ok");
  assert.equal(code(sip([...many, "X-last: 1"])), "too_many_headers");
  assert.equal(code(sip([...REQ, `X-Big: ${"a".repeat(8192)}`])), "ok");
  assert.equal(code(sip([...REQ, `X-Big: ${"a".repeat(8193)}`])), "header_too_large");
  const big = Buffer.concat([sip([...REQ, "Content-Type: text/plain"]), Buffer.alloc(65_535)]);
  assert.equal(code(big), "too_large");
});
