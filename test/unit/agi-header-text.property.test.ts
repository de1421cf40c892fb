import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseHeader } from "../../src/protocols/fastagi/header.ts";
import { decodeHeaderText, encodeHeaderText } from "../../src/protocols/fastagi/header-text.ts";
import { compileTemplate } from "../../src/protocols/fastagi/request.ts";

const runs = { numRuns: 2_000, plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })] };

test("property: any bytes read as text and written back are the same bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const b = Buffer.from(bytes);
      assert.deepEqual(encodeHeaderText(decodeHeaderText(b, 0, b.length)), b);
    }),
    runs,
  );
});

test("property: valid UTF-8 reads as Node's own decoding, and writes back as Buffer.from(text)", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 32 }), (text) => {
      const b = Buffer.from(text, "utf8");
      assert.equal(decodeHeaderText(b, 0, b.length), text);
      assert.deepEqual(encodeHeaderText(text), b);
    }),
    runs,
  );
});

test("bytes outside a valid sequence: each is its own escape, the valid ones around it decode", () => {
  const cases: [string, string][] = [
    ["fffe", "\udcff\udcfe"],
    ["c3a9e941", "é\udce9A"],
    ["eda080", "\udced\udca0\udc80"], // an encoded surrogate is not valid UTF-8 (RFC 3629)
    ["c080", "\udcc0\udc80"], // nor an overlong form
    ["f09f9880ff", "😀\udcff"],
    ["e282", "\udce2\udc82"], // cut short
  ];
  for (const [hex, text] of cases) {
    const b = Buffer.from(hex, "hex");
    assert.equal(decodeHeaderText(b, 0, b.length), text, hex);
    assert.deepEqual(encodeHeaderText(text), b, hex);
  }
});

test("a Latin-1 caller name parses without U+FFFD and lands in a URL template as its own byte", () => {
  const raw = Buffer.concat([
    Buffer.from("agi_network: yes\nagi_request: agi://pbx/ivr\nagi_calleridname: Ren", "latin1"),
    Buffer.from([0xe9]),
    Buffer.from("e Zo\xc3\xab\n\n", "latin1"),
  ]);
  const h = parseHeader(raw);
  assert.ok(!("code" in h), JSON.stringify(h));
  const name = h.vars.get("agi_calleridname") ?? "";
  assert.equal(name, "Ren\udce9e Zoë");
  assert.ok(!name.includes("\ufffd"));
  const t = compileTemplate(`/apps/\${agi_calleridname}?n=\${agi_calleridname}`, "url");
  assert.equal(t(null, h.vars), "/apps/Ren%E9e%20Zo%C3%AB?n=Ren%E9e%20Zo%C3%AB");
});
