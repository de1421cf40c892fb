import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { SessionEnded } from "../../src/events/types.ts";
import { sessionFields, sessionJson } from "../../src/observe/session-json.ts";

/**
 * The session line's JSON written by hand (session-json.ts) is exactly what JSON.stringify
 * writes for the same fields: any text (quotes, backslashes, control bytes, lone surrogates,
 * non-ASCII), any number (whole, tenths as the listeners round them, other doubles, NaN,
 * infinities, negative zero), any field present or not.
 */

const text = fc.oneof(fc.string({ unit: "binary" }), fc.string(), fc.constantFrom("", "GET /", "127.0.0.1"));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const number = fc.oneof(
  fc.integer({ min: -1e6, max: 1e12 }),
  fc.integer({ min: 0, max: 1e7 }).map((t) => Math.round(t) / 10),
  fc.double(),
  fc.constantFrom(0, -0, 0.1, 0.3, 1e21, 1e-7, 123456789012345.6, Number.NaN, Number.POSITIVE_INFINITY),
);

const record: fc.Arbitrary<SessionEnded> = fc.record({
  protocol: fc.constantFrom("http", "sip", "fastagi"),
  listener: text,
  client: text,
  request: maybe(text),
  upstreamRequest: maybe(text),
  route: maybe(text),
  pool: maybe(text),
  server: maybe(text),
  attempts: fc.array(fc.record({ server: text, error: text, code: text }), { maxLength: 2 }),
  durationMs: number,
  setupMs: maybe(number),
  bytesIn: number,
  bytesOut: number,
  outcome: text,
  ok: fc.boolean(),
  error: maybe(text),
  errorCode: maybe(fc.constantFrom("E_CONNECT", "E_NO_ROUTE")),
  sip: maybe(fc.record({ callId: text, from: text, to: text, finalCode: maybe(number), end: text })),
  http: maybe(
    fc.record({
      method: text,
      host: text,
      path: text,
      status: number,
      by: fc.constantFrom("upstream" as const, "proxy" as const),
    }),
  ),
}) as fc.Arbitrary<SessionEnded>;

test("sessionJson is JSON.stringify of the session's fields, without its braces", () => {
  fc.assert(
    fc.property(record, (r) => {
      assert.equal(sessionJson(r), JSON.stringify(sessionFields(r)).slice(1, -1));
    }),
    { numRuns: 3000 },
  );
});

test("so is the usual access line (an HTTP request with no error, no failed try, nothing else)", () => {
  fc.assert(
    fc.property(record, (r) => {
      const usual: SessionEnded = {
        ...r,
        attempts: [],
        upstreamRequest: undefined,
        error: undefined,
        errorCode: undefined,
        http: r.http ?? { method: "GET", host: "a.test", path: "/", status: 200, by: "upstream" },
      };
      delete (usual as { sip?: unknown }).sip;
      assert.equal(sessionJson(usual), JSON.stringify(sessionFields(usual)).slice(1, -1));
    }),
    { numRuns: 3000 },
  );
});

test("a tenth-rounded duration is written as the shortest text of its number", () => {
  for (let t = 0; t <= 20_000; t++) {
    const r = { ...base(), durationMs: t / 10 };
    assert.equal(sessionJson(r), JSON.stringify(sessionFields(r)).slice(1, -1));
  }
});

function base(): SessionEnded {
  return {
    protocol: "http",
    listener: "web",
    client: "127.0.0.1",
    request: "GET /",
    upstreamRequest: undefined,
    route: "web#1",
    pool: "origin",
    server: "127.0.0.1:8080",
    attempts: [],
    durationMs: 0.4,
    setupMs: 0.3,
    bytesIn: 0,
    bytesOut: 129,
    outcome: "200",
    ok: true,
    error: undefined,
    errorCode: undefined,
  };
}
