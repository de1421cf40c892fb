import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FACILITIES,
  formatRfc5424,
  frameOctetCounting,
  parseSyslogTarget,
  severityOf,
} from "../../src/observe/syslog-format.ts";

test("RFC 5424 message: PRI, version, timestamp, NILVALUE and field limits", () => {
  const m = formatRfc5424({
    facility: FACILITIES.local0!,
    severity: 4,
    timestamp: new Date("2026-11-24T10:00:00.123Z"),
    hostname: "pbx 1",
    appName: "a".repeat(60),
    procId: "42",
    message: '{"msg":"Zoë"}',
  });
  assert.equal(
    m.toString("utf8"),
    `<132>1 2026-11-24T10:00:00.123Z pbx_1 ${"a".repeat(48)} 42 - - {"msg":"Zoë"}`,
  );
  const withId = formatRfc5424({
    facility: 0,
    severity: 0,
    timestamp: new Date(0),
    hostname: "",
    appName: "x",
    procId: "1",
    msgId: "session",
    message: "m",
  });
  assert.equal(withId.toString(), "<0>1 1970-01-01T00:00:00.000Z - x 1 session - m");
});

test("octet counting frames count bytes, not characters", () => {
  assert.equal(frameOctetCounting(Buffer.from("é")).toString(), "2 é");
});

test("severities from pino levels", () => {
  assert.deepEqual([10, 20, 30, 40, 50, 60].map(severityOf), [7, 7, 6, 4, 3, 2]);
});

test("syslog URLs", () => {
  assert.deepEqual(parseSyslogTarget("udp://127.0.0.1:514"), {
    transport: "udp",
    host: "127.0.0.1",
    port: 514,
  });
  assert.deepEqual(parseSyslogTarget("tcp://[::1]"), { transport: "tcp", host: "::1", port: 514 });
  assert.deepEqual(parseSyslogTarget("TCP://logs.example.com:6514"), {
    transport: "tcp",
    host: "logs.example.com",
    port: 6514,
  });
  assert.equal(typeof parseSyslogTarget("http://x"), "string");
  assert.equal(typeof parseSyslogTarget("udp://x:99999"), "string");
});
