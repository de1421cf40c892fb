import assert from "node:assert/strict";
import { test } from "node:test";
import { recent } from "../../src/protocols/sip/recent.ts";
import { parseUri } from "../../src/protocols/sip/uri.ts";

test("recent: a text read again gives the same result without parsing; a flood of new texts stays bounded", () => {
  let parses = 0;
  const seen: string[] = [];
  const parse = recent((t: string) => {
    parses++;
    seen.push(t);
    return { length: t.length };
  }, 3);
  const a = parse("abc");
  assert.equal(parse("abc"), a);
  assert.equal(parses, 1);
  for (const t of ["d", "e", "f", "g"]) parse(t);
  assert.equal(parses, 5);
  // Emptied when full: "abc" was dropped with the others and is parsed again, to an equal result.
  assert.deepEqual(parse("abc"), a);
  assert.equal(parses, 6);
  assert.deepEqual(seen, ["abc", "d", "e", "f", "g", "abc"]);
});

test("parseUri through its cache: the same answer the second time, errors included", () => {
  const good = parseUri("sip:alice@example.com:5070;transport=tcp");
  assert.equal(parseUri("sip:alice@example.com:5070;transport=tcp"), good);
  assert.ok(good.ok && good.uri.port === 5070);
  const bad = parseUri("http://example.com");
  assert.equal(parseUri("http://example.com"), bad);
  assert.equal(bad.ok, false);
});
