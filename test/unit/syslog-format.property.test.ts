import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { test } from "node:test";
import fc from "fast-check";
import { ErrorCodes, TrunklineError } from "../../src/core/errors.ts";
import {
  FACILITIES,
  formatRfc5424,
  formatSdElement,
  frameOctetCounting,
  SEVERITIES,
  type SyslogMessage,
  truncateUtf8,
} from "../../src/observe/syslog-format.ts";

/**
 * A fixed number of runs, and a time bound: a failure found in a large input can take
 * fast-check's shrinking minutes, so both the search and the shrinking stop after 20 s
 * (reporting the smallest failure found so far), and a run cut short fails.
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

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

/**
 * Properties of the RFC 5424 formatter, the UTF-8 truncation and RFC 6587 octet-counting
 * frames, for any text: every string a log call could pass, astral characters and lone
 * surrogates included. Each output is read back by the small strict readers below.
 */

// fast-check draws lengths from a "small" size by default (about ten elements whatever
// maxLength says); `size: "max"` makes the whole range up to maxLength reachable.

/** Any UTF-16 text: code points from the whole range, lone surrogates, and the characters the format treats specially. */
const textUnit = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(" ", "-", "[", "]", '"', "\\", "=", "\n", "\u00e9", "\u260e", "\u{1f600}"),
  },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
);
const anyText = (maxLength: number) => fc.string({ unit: textUnit, maxLength, size: "max" });

/** RFC 5424 §6.2.3 TIMESTAMP (FULL-DATE "T" FULL-TIME, 4-digit year). */
const TIMESTAMP_RE =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
/** RFC 5424 §6: PRINTUSASCII, %d33-126. */
const PRINTUSASCII_RE = /^[\x21-\x7e]+$/;
/** SD-NAME: PRINTUSASCII except `=`, SP, `]` and `"` (§6.3.2, §6.3.3). */
const SD_NAME_CHARS = [...Array(94).keys()]
  .map((i) => String.fromCharCode(0x21 + i))
  .filter((c) => !'="]'.includes(c));
const sdName = fc.string({ unit: fc.constantFrom(...SD_NAME_CHARS), minLength: 1, maxLength: 32 });

interface Parsed {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** Elements with their params unescaped; undefined for the NILVALUE. */
  sd: { id: string; params: [string, string][] }[] | undefined;
  /** MSG bytes, undefined when there is no MSG. */
  msg: Buffer | undefined;
}

/** A strict reader of what formatRfc5424 writes (RFC 5424 §6), failing the test on any deviation. */
function parse5424(buf: Buffer): Parsed {
  assert.ok(isUtf8(buf), "the message is valid UTF-8");
  const text = buf.toString("utf8");
  const head = /^<(\d{1,3})>(1) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  assert.ok(head, JSON.stringify(text.slice(0, 200)));
  const [all, pri, version, timestamp, hostname, appName, procId, msgId] = head as unknown as string[];
  let i = (all as string).length;
  let sd: Parsed["sd"];
  if (text[i] === "-") i++;
  else {
    sd = [];
    // Bounded by the text: each turn consumes at least `[`, a name and `]`.
    while (text[i] === "[") {
      const id = /^[^ =\]"]{1,32}/.exec(text.slice(i + 1, i + 40));
      assert.ok(id, "SD-ID");
      i += 1 + id[0].length;
      const params: [string, string][] = [];
      while (text[i] === " ") {
        const name = /^([^ =\]"]{1,32})="/.exec(text.slice(i + 1, i + 40));
        assert.ok(name, "PARAM-NAME");
        i += 1 + name[0].length;
        let value = "";
        for (;;) {
          const c: string | undefined = text[i];
          assert.ok(c !== undefined, "unterminated PARAM-VALUE");
          i++;
          if (c === '"') break;
          if (c === "\\" && (text[i] === '"' || text[i] === "\\" || text[i] === "]")) {
            value += text[i];
            i++;
          } else {
            assert.ok(c !== "]", "an unescaped ] inside a PARAM-VALUE");
            value += c;
          }
        }
        params.push([name[1] as string, value]);
      }
      assert.equal(text[i], "]");
      i++;
      sd.push({ id: id[0], params });
    }
    assert.ok(sd.length > 0, "STRUCTURED-DATA");
  }
  let msg: Buffer | undefined;
  if (i < text.length) {
    assert.equal(text[i], " ");
    msg = buf.subarray(Buffer.byteLength(text.slice(0, i + 1)));
  }
  return {
    pri: Number(pri),
    version: version as string,
    timestamp: timestamp as string,
    hostname: hostname as string,
    appName: appName as string,
    procId: procId as string,
    msgId: msgId as string,
    sd,
    msg,
  };
}

/** A header field as §6 wants it, from what was given: checked character by character. */
function checkField(got: string, given: string | undefined, max: number): void {
  if (given === undefined || given === "") {
    assert.equal(got, "-");
    return;
  }
  assert.match(got, PRINTUSASCII_RE);
  assert.equal(got.length, Math.min(max, given.length));
  for (let k = 0; k < got.length; k++) {
    const c: number = given.charCodeAt(k);
    assert.equal(got[k], c >= 0x21 && c <= 0x7e ? given[k] : "_");
  }
}

const anyDate = fc.date({
  min: new Date("0000-01-01T00:00:00.000Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
  noInvalidDate: false,
});

const message = fc.record(
  {
    facility: fc.integer({ min: 0, max: 23 }),
    severity: fc.integer({ min: 0, max: 7 }),
    timestamp: anyDate,
    hostname: anyText(300),
    appName: anyText(60),
    procId: anyText(140),
    msgId: anyText(40),
    message: anyText(400),
  },
  { requiredKeys: ["facility", "severity", "timestamp", "hostname", "appName", "procId", "message"] },
);

test("formatRfc5424 never throws on any text; its output is UTF-8 and reads back field by field", () => {
  fc.assert(
    fc.property(message, (m) => {
      const out = formatRfc5424(m);
      const p = parse5424(out);
      assert.equal(p.pri, m.facility * 8 + m.severity);
      assert.equal(p.version, "1");
      if (Number.isNaN(m.timestamp.getTime())) assert.equal(p.timestamp, "-");
      else {
        assert.match(p.timestamp, TIMESTAMP_RE);
        assert.equal(new Date(p.timestamp).getTime(), m.timestamp.getTime());
      }
      checkField(p.hostname, m.hostname, 255);
      checkField(p.appName, m.appName, 48);
      checkField(p.procId, m.procId, 128);
      checkField(p.msgId, m.msgId, 32);
      assert.equal(p.sd, undefined);
      // MSG is the message as UTF-8 (a lone surrogate becomes U+FFFD), without a BOM (§6.4).
      if (m.message === "") assert.equal(p.msg, undefined);
      else assert.deepEqual(p.msg, Buffer.from(m.message, "utf8"));
    }),
    runs(400),
  );
});

test("structured data from formatSdElement, with any PARAM-VALUE, is accepted and reads back unescaped", () => {
  const element = fc.record({
    id: sdName,
    params: fc.uniqueArray(fc.tuple(sdName, anyText(40)), {
      selector: ([n]) => n,
      maxLength: 5,
      size: "max",
    }),
  });
  fc.assert(
    fc.property(fc.array(element, { minLength: 1, maxLength: 4 }), anyText(40), (elements, msg) => {
      const sd = elements.map((e) => formatSdElement(e.id, Object.fromEntries(e.params))).join("");
      const p = parse5424(formatRfc5424({ ...base, structuredData: sd, message: msg }));
      assert.deepEqual(
        p.sd,
        elements.map((e) => ({
          id: e.id,
          // Object.entries' order (integer-like names first), values as their UTF-8 reads.
          params: Object.entries(Object.fromEntries(e.params)).map(([n, v]) => [
            n,
            Buffer.from(v, "utf8").toString("utf8"),
          ]),
        })),
      );
      assert.deepEqual(p.msg, msg === "" ? undefined : Buffer.from(msg, "utf8"));
    }),
    runs(300),
  );
});

test("formatSdElement either refuses a name with E_SYSLOG_INVALID or builds an element formatRfc5424 accepts", () => {
  const name = fc.oneof(sdName, anyText(40));
  const valid = (s: string) => /^[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}$/.test(s);
  fc.assert(
    fc.property(name, fc.array(fc.tuple(name, anyText(20)), { maxLength: 4 }), (id, params) => {
      const ok = valid(id) && params.every(([n]) => valid(n));
      let sd: string;
      try {
        sd = formatSdElement(id, Object.fromEntries(params));
      } catch (err) {
        assert.ok(err instanceof TrunklineError && err.code === ErrorCodes.SYSLOG_INVALID, String(err));
        assert.ok(!ok, `refused valid names ${JSON.stringify([id, params.map(([n]) => n)])}`);
        return;
      }
      assert.ok(ok, `accepted ${JSON.stringify(id)}`);
      assert.ok(isUtf8(formatRfc5424({ ...base, structuredData: sd })));
    }),
    runs(300),
  );
});

test("truncateUtf8 keeps the longest whole-character prefix within the cap, and valid UTF-8 stays valid", () => {
  fc.assert(
    fc.property(
      anyText(200).chain((s) => {
        const buf = Buffer.from(s, "utf8");
        return fc.tuple(fc.constant(buf), fc.integer({ min: 0, max: buf.length + 4 }));
      }),
      ([buf, max]) => {
        const cut = truncateUtf8(buf, max);
        if (buf.length <= max) {
          assert.equal(cut, buf);
          return;
        }
        assert.ok(cut.length <= max);
        assert.deepEqual(cut, buf.subarray(0, cut.length), "a prefix");
        assert.ok(isUtf8(cut));
        // Cut at a character boundary, dropping only the character that did not fit whole
        // (at most 3 of its bytes: UTF-8 characters are at most 4 bytes, RFC 3629 §3).
        assert.notEqual((buf[cut.length] as number) & 0xc0, 0x80, "no split sequence");
        assert.ok(max - cut.length <= 3, `${max} -> ${cut.length}`);
      },
    ),
    runs(500),
  );
});

/** RFC 6587 §3.4.1: MSG-LEN = NONZERO-DIGIT *DIGIT. */
const MSG_LEN_RE = /^[1-9][0-9]*$/;

/**
 * A strict octet-counting receiver: reads whole frames out of a TCP stream however it was
 * cut, and fails on anything that is not `MSG-LEN SP SYSLOG-MSG`.
 */
function readFrames(reads: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let buf = Buffer.alloc(0);
  for (const r of reads) {
    buf = Buffer.concat([buf, r]);
    // Each turn takes one whole frame (at least 3 bytes) or stops: bounded by the bytes.
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) {
        assert.match(buf.toString("latin1"), /^[0-9]*$/, "only MSG-LEN digits before the space");
        break;
      }
      const len = buf.subarray(0, sp).toString("latin1");
      assert.match(len, MSG_LEN_RE);
      const end = sp + 1 + Number(len);
      if (buf.length < end) break;
      out.push(buf.subarray(sp + 1, end));
      buf = buf.subarray(end);
    }
  }
  assert.equal(buf.length, 0, "no partial frame left over");
  return out;
}

/** `bytes` cut at the given offsets (taken modulo its length). */
function cutAt(bytes: Buffer, at: readonly number[]): Buffer[] {
  const cuts = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

test("an octet-counting frame is MSG-LEN SP MSG with MSG-LEN the byte length of MSG; frames read back however TCP cuts them", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300, size: "max" }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 20, size: "max" }),
      (msgs, at) => {
        const frames = msgs.map((m) => frameOctetCounting(Buffer.from(m)));
        frames.forEach((f, k) => {
          const sp = f.indexOf(0x20);
          assert.match(f.subarray(0, sp).toString("latin1"), MSG_LEN_RE);
          assert.equal(Number(f.subarray(0, sp).toString("latin1")), msgs[k]?.length);
          assert.deepEqual(f.subarray(sp + 1), Buffer.from(msgs[k] as Uint8Array));
        });
        const stream = Buffer.concat(frames);
        assert.deepEqual(
          readFrames(cutAt(stream, at)),
          msgs.map((m) => Buffer.from(m)),
        );
      },
    ),
    runs(300),
  );
});

/** SyslogSink's caps (src/observe/syslog.ts): RFC 5426 §3.2 for UDP, RFC 5425 §4.3.1 for TCP. */
const UDP_MAX = 2048;
const TCP_MAX = 8192;

test("format, cut to the transport's cap and frame, as SyslogSink does: every record reads back, UTF-8, within the cap", () => {
  // Long messages of wide characters, so that both caps are crossed, often mid-character.
  const longText = fc.string({
    unit: fc.oneof(textUnit, fc.constantFrom("\u{1f600}", "\u260e", "\u00e9")),
    maxLength: 5000,
    size: "max",
  });
  fc.assert(
    fc.property(
      fc.array(longText, { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 20, size: "max" }),
      (texts, at) => {
        const records = texts.map((t) => formatRfc5424({ ...base, message: t }));
        for (const [k, rec] of records.entries()) {
          const udp = truncateUtf8(rec, UDP_MAX);
          assert.ok(udp.length <= UDP_MAX);
          const p = parse5424(udp);
          const full = Buffer.from(texts[k] as string, "utf8");
          // MSG is the start of the message, cut at a character boundary.
          if (p.msg !== undefined) assert.deepEqual(p.msg, full.subarray(0, p.msg.length));
        }
        const tcp = records.map((r) => truncateUtf8(r, TCP_MAX));
        const stream = Buffer.concat(tcp.map(frameOctetCounting));
        const back = readFrames(cutAt(stream, at));
        assert.deepEqual(back, tcp);
        for (const [k, m] of back.entries()) {
          assert.ok(m.length <= TCP_MAX);
          const p = parse5424(m);
          const full = Buffer.from(texts[k] as string, "utf8");
          if (p.msg !== undefined) assert.deepEqual(p.msg, full.subarray(0, p.msg.length));
        }
      },
    ),
    runs(200),
  );
});
