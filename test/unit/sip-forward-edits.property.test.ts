import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  addRecordRoute,
  decrementMaxForwards,
  type EditResult,
  forwardEdits,
  prependVia,
} from "../../src/protocols/sip/edit.ts";
import { firstTopLevel, splitTopLevel } from "../../src/protocols/sip/headers.ts";
import type { SipHeader, SipRequest } from "../../src/protocols/sip/types.ts";

// forwardEdits makes in one pass the header list that the three edits make one after another
// (Max-Forwards, each Record-Route, our Via): whatever the lines and their order, the same.
const header: fc.Arbitrary<SipHeader> = fc.oneof(
  fc.constantFrom("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", "SIP/2.0/UDP a, SIP/2.0/TCP b").map((value) => ({
    name: "via",
    rawName: "Via",
    value,
  })),
  fc.constantFrom("<sip:p1;lr>", "<sip:p2;lr>, <sip:p3;lr>").map((value) => ({
    name: "record-route",
    rawName: "Record-Route",
    value,
  })),
  fc.constantFrom("70", "1", "0", "256", "x", "9999999999").map((value) => ({
    name: "max-forwards",
    rawName: "Max-Forwards",
    value,
  })),
  fc.constantFrom("call-id", "from", "to", "cseq", "contact", "route").map((name) => ({
    name,
    rawName: name,
    value: `v-${name}`,
  })),
);
const recordRoute = fc.constantFrom("<sip:us;lr;tl=a>", " <sip:us2;lr> ", "", "<sip:x>\r\nEvil: 1");
const ourVia = fc.constantFrom("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq;rport", " ", "a\nb");

function oneByOne(m: SipRequest, via: string, rr: readonly string[], maxForwards: boolean): EditResult {
  let msg = m;
  if (maxForwards) {
    const mf = decrementMaxForwards(msg);
    if (!mf.ok) return mf;
    msg = mf.message as SipRequest;
  }
  for (const value of rr) {
    const r = addRecordRoute(msg, value);
    if (r.ok) msg = r.message as SipRequest;
  }
  return prependVia(msg, via);
}

test("property: forwardEdits gives the message the edits one after another give", () => {
  fc.assert(
    fc.property(
      fc.array(header, { maxLength: 10 }),
      fc.array(recordRoute, { maxLength: 3 }),
      ourVia,
      fc.boolean(),
      (headers, rr, via, maxForwards) => {
        const m: SipRequest = {
          kind: "request",
          method: "BYE",
          uri: "sip:a@b",
          version: "SIP/2.0",
          headers,
          body: Buffer.alloc(0),
        };
        // The same message, or the same error (Max-Forwards' before the Via's).
        assert.deepEqual(forwardEdits(m, via, rr, maxForwards), oneByOne(m, via, rr, maxForwards));
        assert.deepEqual(m.headers, headers, "the given message is left as it was");
      },
    ),
    { numRuns: 3000 },
  );
});

test("property: a value with no comma splits to itself, trimmed, as the scan gives it", () => {
  const value = fc.string({ unit: fc.constantFrom("a", " ", "\t", '"', "<", ">", ";", "=", "\\", ",") });
  fc.assert(
    fc.property(value, (v) => {
      // The scan's answer: at the top-level commas, each part trimmed, empty parts dropped.
      const parts: string[] = [];
      let quoted = false;
      let angle = false;
      let from = 0;
      const cut = (to: number) => {
        const t = v.slice(from, to).trim();
        if (t !== "") parts.push(t);
        from = to + 1;
      };
      for (let i = 0; i < v.length; i++) {
        const c = v[i];
        if (quoted) {
          if (c === "\\") i++;
          else if (c === '"') quoted = false;
        } else if (c === '"') quoted = true;
        else if (c === "<") angle = true;
        else if (c === ">") angle = false;
        else if (c === "," && !angle) cut(i);
      }
      cut(v.length);
      assert.deepEqual(splitTopLevel(v), parts, JSON.stringify(v));
      assert.equal(firstTopLevel(v), parts[0], JSON.stringify(v));
    }),
    { numRuns: 3000 },
  );
});
