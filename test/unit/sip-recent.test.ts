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
  // Three slots: "abc" was the oldest of four newer texts, dropped, and is parsed again, to an equal result.
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

test("the caches hold copies of what they read, not the 60 KB messages those values were sliced from", async () => {
  const { setFlagsFromString } = await import("node:v8");
  const { runInNewContext } = await import("node:vm");
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const { parseMessage } = await import("../../src/protocols/sip/message.ts");
  const { parseNameAddr } = await import("../../src/protocols/sip/fields.ts");
  const { parseVia } = await import("../../src/protocols/sip/via.ts");
  const pad = "x".repeat(60_000);
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  for (let i = 0; i < 300; i++) {
    const text = `OPTIONS sip:u${i}@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK${i}\r\nFrom: <sip:a${i}@b>;tag=${i}\r\nTo: <sip:c@d>\r\nCall-ID: ${i}@x\r\nCSeq: ${i} OPTIONS\r\nX-Header-Of-Its-Own-${i}: y\r\nContent-Length: ${pad.length}\r\n\r\n${pad}`;
    const m = parseMessage(Buffer.from(text, "latin1"), { stream: false });
    assert.ok(m.ok);
    if (!m.ok) continue;
    parseUri(m.message.kind === "request" ? m.message.uri : "");
    for (const h of m.message.headers) {
      if (h.name === "from") parseNameAddr(h.value);
      if (h.name === "via") parseVia(h.value);
    }
  }
  const grown = heap() - before;
  // 300 messages of 60 KB are 18 MB; the caches keep a few hundred short values.
  assert.ok(grown < 4_000_000, `heap grew ${grown} bytes`);
});

test("recent: a text remembered again gets its new result; an empty or too long text is never kept; slots are 1-32", () => {
  let parses = 0;
  const parse = recent((t: string) => {
    parses++;
    return { t, n: parses };
  }, 4);
  parse.remember("a", { t: "a", n: 100 });
  parse.remember("a", { t: "a", n: 200 });
  assert.deepEqual(parse("a"), { t: "a", n: 200 });
  for (const t of ["b", "c", "d"]) parse(t);
  // "a" still held one slot of four: it is there after three other texts.
  assert.deepEqual(parse("a"), { t: "a", n: 200 });
  parse("");
  parse("");
  assert.equal(parses, 5, "an empty text is parsed every time");
  const long = "x".repeat(1_025);
  parse(long);
  parse(long);
  assert.equal(parses, 7, "a text over 1,024 characters is parsed every time");
  for (const slots of [0, Number.NaN, 1e9]) {
    let n = 0;
    const p = recent((t: string) => {
      n++;
      return t;
    }, slots);
    for (let i = 0; i < 40; i++) p(`v${i}`);
    p("v0");
    assert.equal(n, 41, `slots ${slots}: v0 was dropped by 40 newer texts`);
    p("v0");
    assert.equal(n, 41, `slots ${slots}: the newest is kept`);
  }
});
