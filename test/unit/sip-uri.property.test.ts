import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  canonicalHost,
  defaultPort,
  formatUri,
  parseUri,
  sameHostPort,
} from "../../src/protocols/sip/uri.ts";

/**
 * Properties of the SIP URI parser: generated URIs (every part optional, escapes, IPv6) parse
 * and format back to the same text; random text never throws and gives a known error code.
 * Sizes and run counts are bounded.
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const chars = (set: string, minLength: number, maxLength: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...set.split("")) },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 0, max: 255 }).map((n) => `%${n.toString(16).padStart(2, "0")}`),
        },
      ),
      { minLength, maxLength },
    )
    .map((a) => a.join(""));

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const UNRESERVED = `${ALNUM}-_.!~*'()`;
const label = fc
  .tuple(
    fc.constantFrom(...ALNUM.split("")),
    fc.string({ unit: fc.constantFrom(...`${ALNUM}-`.split("")), maxLength: 8 }),
  )
  .map(([a, b]) => (b === "" || b.endsWith("-") ? `${a}${b}x` : `${a}${b}`))
  .filter((l) => /[a-zA-Z]/.test(l));
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")),
  fc.ipV4(),
  fc.ipV6().map((a) => `[${a}]`),
);

const uriText = fc
  .record({
    scheme: fc.constantFrom("sip", "sips"),
    user: fc.option(chars(`${UNRESERVED}&=+$,;/#`, 1, 12), { nil: undefined }),
    password: fc.option(chars(`${UNRESERVED}&=+$,`, 0, 8), { nil: undefined }),
    host,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    params: fc.array(
      fc.tuple(
        chars(`${UNRESERVED}[]/:&+$`, 1, 8),
        fc.option(chars(`${UNRESERVED}[]/:&+$`, 1, 8), { nil: undefined }),
      ),
      { maxLength: 5 },
    ),
    headers: fc.array(fc.tuple(chars(`${UNRESERVED}[]/?:+$`, 1, 8), chars(`${UNRESERVED}[]/?:+$@`, 0, 8)), {
      maxLength: 3,
    }),
  })
  .map((r) => {
    let s = `${r.scheme}:`;
    if (r.user !== undefined) s += r.password === undefined ? `${r.user}@` : `${r.user}:${r.password}@`;
    s += r.host;
    if (r.port !== undefined) s += `:${r.port}`;
    for (const [n, v] of r.params) s += v === undefined ? `;${n}` : `;${n}=${v}`;
    if (r.headers.length > 0) s += `?${r.headers.map(([n, v]) => `${n}=${v}`).join("&")}`;
    return s;
  });

test("property: formatUri(parseUri(x)) is x for generated URIs", () => {
  fc.assert(
    fc.property(uriText, (text) => {
      const r = parseUri(text);
      if (!r.ok) assert.fail(`${text}: ${r.error.message}`);
      assert.equal(formatUri(r.uri), text);
      const us = { host: r.uri.host.toUpperCase(), port: r.uri.port ?? defaultPort(r.uri) };
      assert.ok(sameHostPort(r.uri, us));
    }),
    runs(300),
  );
});

test("property: random text never throws; a parsed URI formats and parses to the same URI", () => {
  const uriish = fc.string({
    unit: fc.constantFrom(...'sip:SIPS@[]:;=?&%0a9.-_#/ \r\n"<>'.split("")),
    maxLength: 80,
  });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 100 }), uriish), (text) => {
      const r = parseUri(text);
      canonicalHost(text);
      if (!r.ok) {
        assert.ok(["bad_uri", "unsupported_scheme"].includes(r.error.code), r.error.code);
        return;
      }
      const again = parseUri(formatUri(r.uri));
      assert.ok(again.ok);
      if (again.ok) assert.deepEqual(again.uri, r.uri);
    }),
    runs(300),
  );
});
