import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { test } from "node:test";
import {
  FACILITIES,
  formatRfc5424,
  formatSdElement,
  SEVERITIES,
  type SyslogMessage,
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

test('structured data is written as UTF-8: a CJK PARAM-VALUE cannot turn into a bare ] or " (RFC 5424 §6.3.3)', () => {
  // U+4E5D and U+4E22 end in 0x5D `]` and 0x22 `"`: written as one byte each (Node's
  // "ascii"), they closed the SD-ELEMENT early and left invalid UTF-8 behind.
  const sd = formatSdElement("trunkline@32473", { who: "\u4e5d\u4e22 Zoë" });
  const m = formatRfc5424({ ...base, structuredData: sd });
  assert.ok(isUtf8(m));
  assert.equal(
    m.toString("utf8"),
    '<134>1 2026-11-24T10:00:00.123Z pbx1 trunkline 42 - [trunkline@32473 who="\u4e5d\u4e22 Zoë"] hello',
  );
  assert.ok(isUtf8(formatRfc5424({ ...base, structuredData: sd, message: "" })));
});
