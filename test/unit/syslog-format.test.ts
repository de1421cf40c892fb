import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, TrunklineError } from "../../src/core/errors.ts";
import {
  FACILITIES,
  formatRfc5424,
  formatSdElement,
  frameOctetCounting,
  parseSyslogTarget,
  SEVERITIES,
  type SyslogMessage,
  severityOf,
  truncateUtf8,
} from "../../src/observe/syslog-format.ts";

const base: SyslogMessage = {
  facility: FACILITIES.local0 as number,
  severity: SEVERITIES.informational,
  timestamp: new Date("2026-11-24T10:00:00.123Z"),
  hostname: "pbx1",
  appName: "trunkline",
  procId: "42",
  message: "hello",
};
const fmt = (over: Partial<SyslogMessage>) => formatRfc5424({ ...base, ...over }).toString("utf8");
const isSyslogInvalid = (e: unknown) => e instanceof TrunklineError && e.code === ErrorCodes.SYSLOG_INVALID;

test("facility codes follow RFC 5424 §6.2.1: kern 0 … local7 23, 24 of them", () => {
  assert.equal(Object.keys(FACILITIES).length, 24);
  assert.deepEqual(Object.values(FACILITIES), [...Array(24).keys()]);
  assert.equal(FACILITIES.kern, 0);
  assert.equal(FACILITIES.user, 1);
  assert.equal(FACILITIES.local0, 16);
  assert.equal(FACILITIES.local7, 23);
});

test("PRI is facility × 8 + severity, then VERSION 1 (§6.2.1, §6.2.2)", () => {
  assert.ok(fmt({ facility: 0, severity: 0 }).startsWith("<0>1 "));
  assert.ok(fmt({ facility: 16, severity: 6 }).startsWith("<134>1 "));
  assert.ok(fmt({ facility: 17, severity: 4 }).startsWith("<140>1 "));
  assert.ok(fmt({ facility: 23, severity: 7 }).startsWith("<191>1 "));
  for (const [facility, severity] of [
    [24, 0],
    [-1, 0],
    [1.5, 0],
    [0, 8],
    [0, -1],
    [0, Number.NaN],
  ] as const) {
    assert.throws(() => formatRfc5424({ ...base, facility, severity }), isSyslogInvalid);
  }
});

test("a whole message: header fields in order, NILVALUE for empty MSGID and SD, UTF-8 MSG without BOM", () => {
  const m = formatRfc5424({ ...base, message: '{"msg":"Zoë"}' });
  assert.equal(m.toString("utf8"), '<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - - {"msg":"Zoë"}');
  assert.notEqual(m.subarray(m.indexOf("{") - 3, m.indexOf("{")).toString("hex"), "efbbbf");
  assert.equal(
    fmt({ msgId: "session" }),
    "<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 session - hello",
  );
  // An empty MSG leaves no trailing space (§6: MSG is optional, SP MSG with it).
  assert.equal(fmt({ message: "" }), "<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - -");
  // An invalid date is the NILVALUE timestamp (§6.2.3), never "Invalid Date".
  assert.equal(fmt({ timestamp: new Date(Number.NaN) }), "<134>1 - pbx1 trunkline 42 - - hello");
});

test("every empty header field becomes NILVALUE", () => {
  assert.equal(
    fmt({ hostname: "", appName: "", procId: "", msgId: "" }),
    "<134>1 2026-11-24T10:00:00.123Z - - - - - hello",
  );
});

test("header fields are cut to their maximum lengths (§6: 255, 48, 128, 32)", () => {
  const line = fmt({
    hostname: "h".repeat(300),
    appName: "a".repeat(60),
    procId: "p".repeat(200),
    msgId: "m".repeat(40),
  });
  const [, , host, app, proc, msgid] = line.split(" ");
  assert.equal(host, "h".repeat(255));
  assert.equal(app, "a".repeat(48));
  assert.equal(proc, "p".repeat(128));
  assert.equal(msgid, "m".repeat(32));
});

test("header fields hold PRINTUSASCII only: spaces, controls and non-ASCII cannot shift fields", () => {
  const line = fmt({ hostname: "pbx 1", appName: "tr\nunk", procId: "4\t2", msgId: "séssion" });
  assert.equal(line, "<134>1 2026-11-24T10:00:00.123Z pbx_1 tr_unk 4_2 s_ssion - hello");
});

test("structured data: escaped per §6.3.3, validated, NILVALUE when absent", () => {
  const sd = formatSdElement("trunkline@32473", { pool: "ivr", note: 'a "q" \\ and ]' });
  assert.equal(sd, '[trunkline@32473 pool="ivr" note="a \\"q\\" \\\\ and \\]"]');
  assert.equal(
    fmt({ structuredData: sd }),
    `<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - ${sd} hello`,
  );
  assert.equal(
    fmt({ structuredData: '[a x="1"][b]' }),
    '<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - [a x="1"][b] hello',
  );
  assert.equal(fmt({ structuredData: "" }), "<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - - hello");
  for (const bad of [
    "nobrackets",
    "[a x=unquoted]",
    '[a x="un"escaped"]',
    "[has space]",
    '[a x="1"] trailing',
  ]) {
    assert.throws(() => formatRfc5424({ ...base, structuredData: bad }), isSyslogInvalid, bad);
  }
  assert.throws(() => formatSdElement("bad id", {}), isSyslogInvalid);
  assert.throws(() => formatSdElement("ok", { "x=y": "1" }), isSyslogInvalid);
  assert.throws(() => formatSdElement("i".repeat(33), {}), isSyslogInvalid);
});

test("octet counting frames count bytes, not characters (RFC 6587 §3.4.1)", () => {
  assert.equal(frameOctetCounting(Buffer.from("é")).toString(), "2 é");
  const msg = formatRfc5424({ ...base, message: "Zoë ☎" });
  const frame = frameOctetCounting(msg);
  const sp = frame.indexOf(0x20);
  assert.equal(Number(frame.subarray(0, sp).toString()), msg.length);
  assert.deepEqual(frame.subarray(sp + 1), msg);
});

test("truncation never splits a UTF-8 sequence", () => {
  const b = Buffer.from("ab☎cd"); // ☎ is 3 bytes: a b E2 98 8E c d
  assert.equal(truncateUtf8(b, 100), b);
  assert.equal(truncateUtf8(b, 2).toString(), "ab");
  assert.equal(truncateUtf8(b, 3).toString(), "ab");
  assert.equal(truncateUtf8(b, 4).toString(), "ab");
  assert.equal(truncateUtf8(b, 5).toString(), "ab☎");
  assert.equal(truncateUtf8(b, 6).toString(), "ab☎c");
  assert.equal(truncateUtf8(Buffer.from("😀"), 3).length, 0);
});

test("pino levels map to severities: trace/debug 7, info 6, warn 4, error 3, fatal 2", () => {
  assert.deepEqual([10, 20, 30, 40, 50, 60].map(severityOf), [7, 7, 6, 4, 3, 2]);
});

test("syslog URLs: transports, default port 514, IPv6, case", () => {
  assert.deepEqual(parseSyslogTarget("udp://127.0.0.1:514"), {
    transport: "udp",
    host: "127.0.0.1",
    port: 514,
  });
  assert.deepEqual(parseSyslogTarget("udp://logs"), { transport: "udp", host: "logs", port: 514 });
  assert.deepEqual(parseSyslogTarget("tcp://[::1]"), { transport: "tcp", host: "::1", port: 514 });
  assert.deepEqual(parseSyslogTarget("tcp://[::1]:6514"), { transport: "tcp", host: "::1", port: 6514 });
  assert.deepEqual(parseSyslogTarget("TCP://logs.example.com:10514/"), {
    transport: "tcp",
    host: "logs.example.com",
    port: 10514,
  });
  assert.deepEqual(parseSyslogTarget(" udp://10.0.0.5 "), { transport: "udp", host: "10.0.0.5", port: 514 });
});

test("bad syslog URLs get a message, not an exception", () => {
  const cases: [string, RegExp][] = [
    ["127.0.0.1:514", /not udp:\/\/host/],
    ["http://x", /unsupported syslog transport "http"/],
    ["tls://x:6514", /TLS is not supported/],
    ["udp://", /missing host/],
    ["udp://x:99999", /out of range/],
    ["udp://x:0", /port 0/],
    ["udp://x:abc", /invalid port/],
    ["tcp://x/path", /no user, path or query/],
    ["tcp://user@x", /no user, path or query/],
    ["tcp://x?y=1", /no user, path or query/],
    ["tcp://[::1", /unterminated IPv6/],
    ["tcp://[nothost]:514", /not an IPv6 address/],
    ["udp://bad_host!", /invalid host/],
  ];
  for (const [url, re] of cases) {
    const r = parseSyslogTarget(url);
    assert.equal(typeof r, "string", url);
    assert.match(r as string, re, url);
  }
});
