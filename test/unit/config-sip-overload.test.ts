// A SIP listener's `overload`: on by default (utilization 0.95 for 500 ms), tunable, or off;
// bad values are refused with the key's path.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import type { SipListenerOptions } from "../../src/protocols/sip/config.ts";
import { problems } from "../helpers/config-problems.ts";

const text = (extra: string) => `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060${extra} } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { servers: [ { address: 127.0.0.1:5070 } ] } }
`;

function overload(extra: string) {
  const l = parseConfigText(text(extra), "t.yaml").listeners.find((x) => x.name === "sip");
  assert.ok(l, "the sip listener");
  return (l.options as SipListenerOptions).overload;
}

test("overload: on by default, at a utilization of 0.95 held for 500 ms (5 readings of 100 ms)", () => {
  assert.deepEqual(overload(""), { utilization: 0.95, after: 5 });
});

test("overload: utilization and after are taken; after is counted in readings of 100 ms", () => {
  assert.deepEqual(overload(", overload: { utilization: 0.8, after: 2s }"), { utilization: 0.8, after: 20 });
  assert.deepEqual(overload(", overload: { after: 250ms }"), { utilization: 0.95, after: 3 });
});

test("overload: off turns shedding off", () => {
  assert.equal(overload(", overload: off"), undefined);
});

test("overload: bad values are refused with the key's path", () => {
  assert.match(problems(text(", overload: { utilization: 0.3 }")).join("\n"), /overload\.utilization/);
  assert.match(problems(text(", overload: { utilization: 1.5 }")).join("\n"), /overload\.utilization/);
  assert.match(
    problems(text(", overload: { after: 50ms }")).join("\n"),
    /overload\.after: from 100ms to 60s/,
  );
  assert.match(problems(text(", overload: { after: 2m }")).join("\n"), /overload\.after: from 100ms to 60s/);
  assert.match(problems(text(", overload: { shed: 1 }")).join("\n"), /overload/);
  assert.match(problems(text(", overload: on")).join("\n"), /overload/);
});
