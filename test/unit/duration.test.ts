import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHostPort } from "../../src/core/address.ts";
import { parseDuration } from "../../src/core/duration.ts";

test("durations accept ms, s, m and reject junk", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2 weeks"), undefined);
  assert.equal(parseDuration("-1s"), undefined);
});

test("host:port parsing covers IPv4, names, IPv6 and default ports", () => {
  assert.deepEqual(parseHostPort("10.0.0.1:4573"), { host: "10.0.0.1", port: 4573 });
  assert.deepEqual(parseHostPort("10.0.0.13", 4573), { host: "10.0.0.13", port: 4573 });
  assert.deepEqual(parseHostPort("[::1]:4573"), { host: "::1", port: 4573 });
  assert.deepEqual(parseHostPort("[::]:4573"), { host: "::", port: 4573 });
  assert.deepEqual(parseHostPort("agi.example.com:99"), { host: "agi.example.com", port: 99 });
  assert.equal(typeof parseHostPort("host:99999"), "string");
  assert.equal(typeof parseHostPort("10.0.0.1"), "string");
  assert.equal(typeof parseHostPort("bad host:1"), "string");
});
