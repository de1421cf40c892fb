import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CONTROLS, NON_ASCII, scanHead } from "../../src/protocols/sip/head-scan.ts";
import { canonicalName } from "../../src/protocols/sip/headers.ts";

// The two regular expressions scanHead stands for, as message.ts had them.
const CONTROL_RE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/;
const NON_ASCII_RE = /[^\x00-\x7f]/;

/** Text as parseMessage sees it: a latin1 view of bytes, mostly a head's, with the odd ones in. */
const latin1 = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(..."Via: SIP/2.0 a;b=c\r\n\r\n\t :") },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)) },
    ),
    maxLength,
  });

function reference(slice: string): number {
  return (CONTROL_RE.test(slice) ? CONTROLS : 0) | (NON_ASCII_RE.test(slice) ? NON_ASCII : 0);
}

test("scanHead answers as the control-byte and non-ASCII expressions do over the range, whatever follows it", () => {
  fc.assert(
    fc.property(
      latin1(300),
      fc.nat(),
      fc.nat(),
      // A long body after the range is searched apart (a slice); a short one is not.
      fc.oneof(
        fc.constant(""),
        latin1(40),
        latin1(40).map((t) => t + "x".repeat(1_100)),
      ),
      (head, a, b, after) => {
        const text = head + after;
        const from = head.length === 0 ? 0 : a % (head.length + 1);
        const to = from + (b % (head.length - from + 1));
        assert.equal(scanHead(text, from, to), reference(text.slice(from, to)));
      },
    ),
    { numRuns: 2_000 },
  );
});

test("scanHead: a CR is bare when the range ends after it, even if an LF follows outside", () => {
  assert.equal(scanHead("a\r\nb", 0, 2), CONTROLS);
  assert.equal(scanHead("a\r\nb", 0, 3), 0);
  assert.equal(scanHead("\u00e9\x01", 0, 1), NON_ASCII);
  assert.equal(scanHead("\u00e9\x01", 0, 2), CONTROLS | NON_ASCII);
});

test("canonicalName: the common spellings and any other case give the same names", () => {
  const names = ["To", "Via", "From", "CSeq", "Route", "Call-ID", "Contact", "Max-Forwards"];
  for (const n of [...names, "Record-Route", "Content-Type", "Content-Length"]) {
    assert.equal(canonicalName(n), n.toLowerCase());
    assert.equal(canonicalName(n.toUpperCase()), n.toLowerCase());
  }
  assert.equal(canonicalName("v"), "via");
  assert.equal(canonicalName("Xy"), "xy");
});
