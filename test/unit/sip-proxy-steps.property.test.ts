import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { branchParts, loopCheck, statelessBranch } from "../../src/protocols/sip/branch.ts";
import { headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { buildResponse } from "../../src/protocols/sip/response.ts";
import { preprocessRoute, recordRouteValue, validateRequest } from "../../src/protocols/sip/route.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipRequest } from "../../src/protocols/sip/types.ts";
import { INVITE_SIPP } from "../fixtures/sip/samples.ts";

/**
 * The proxy steps on hostile values: a request whose Request-URI, Via, Route, To, CSeq,
 * Max-Forwards or Proxy-Require holds random text never makes any step throw, and a response
 * built from a request that is still a valid message parses back. Sizes and run counts are bounded.
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const base = (() => {
  const r = parseMessage(INVITE_SIPP, { stream: false });
  if (!r.ok || r.message.kind !== "request") throw new Error("fixture");
  return r.message;
})();

const nasty = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: fc.constantFrom(...'sip:<>;,=@[]:."\\ lr10tag%z9hG4bK/UDP'.split("")), maxLength: 60 }),
);

const US = { host: "10.0.0.1", port: 5060, transport: "udp" };

test("property: validate, route, branch, loop check and respond never throw", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("uri", "via", "route", "to", "from", "cseq", "max-forwards", "proxy-require"),
      nasty,
      nasty,
      (field, value, tag) => {
        const req: SipRequest =
          field === "uri"
            ? { ...base, uri: value }
            : {
                ...base,
                headers: [
                  ...base.headers.filter((h) => h.name !== field),
                  { name: field, rawName: field, value },
                ],
              };
        validateRequest(req);
        const routed = preprocessRoute(req, US);
        const parts = branchParts(routed.ok ? routed.message : req);
        if (parts.ok) loopCheck(headerValues(req, "via"), US, statelessBranch(parts.parts));
        recordRouteValue({ ...US, host: value }, [[tag, value]]);
        // A response copies what it was given: it parses back when the request itself would.
        const valid = parseMessage(serializeMessage(req), { stream: true }).ok;
        for (const status of [100, 483, 503]) {
          const res = buildResponse(req, status, { toTag: tag, headers: [["Retry-After", value]] });
          if (res.ok && valid) {
            const back = parseMessage(serializeMessage(res.response), { stream: true });
            assert.ok(back.ok, back.ok ? "" : back.error.message);
          }
        }
      },
    ),
    runs(300),
  );
});
