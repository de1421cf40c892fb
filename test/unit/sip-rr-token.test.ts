import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { recordRouteValue } from "../../src/protocols/sip/route.ts";
import {
  MAX_SERVER_BYTES,
  MAX_TOKEN_LENGTH,
  RR_TOKEN_PARAM,
  signFor,
  signServer,
  verifyServer,
} from "../../src/protocols/sip/rr-token.ts";
import { parseUri, uriParam } from "../../src/protocols/sip/uri.ts";

const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

const K1 = Buffer.from("0123456789abcdef0123456789abcdef");
const K2 = Buffer.from("fedcba9876543210fedcba9876543210");

/** RFC 3261 §25.1 paramchar, written out independently of the module under test. */
const PARAMCHAR_RE = /^(?:[A-Za-z0-9\-_.!~*'()[\]/:&+$]|%[0-9A-Fa-f]{2})+$/;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function sign(server: string, key = K1, context?: string): string {
  const r = signServer(server, key, context === undefined ? {} : { context });
  if (!r.ok) assert.fail(`signServer(${server}): ${r.error}`);
  return r.token;
}

test("a token names its server back, and only characters of a URI parameter value", () => {
  for (const server of ["10.0.0.5:5080", "fs1.example.net:5060", "[2001:db8::1]:5080", "pool-a/fs1", "ü"]) {
    const token = sign(server);
    assert.match(token, PARAMCHAR_RE);
    assert.deepEqual(verifyServer(token, [K1]), { ok: true, server });
  }
  // 1 + 13 + 16 bytes: 40 characters, short enough for every Route header.
  assert.equal(sign("10.0.0.5:5080").length, 40);
});

test("any changed character, a wrong key or a wrong context is refused", () => {
  const token = sign("10.0.0.5:5080", K1, "call-1@host");
  for (let i = 0; i < token.length; i++)
    for (const c of B64URL) {
      if (c === token[i]) continue;
      const bad = token.slice(0, i) + c + token.slice(i + 1);
      const r = verifyServer(bad, [K1], { context: "call-1@host" });
      assert.equal(r.ok, false, `changed ${i} to ${c}`);
    }
  assert.equal(verifyServer(token, [K2], { context: "call-1@host" }).ok, false);
  const noCtx = verifyServer(token, [K1]);
  assert.equal(!noCtx.ok && noCtx.error, "bad_mac");
  assert.equal(verifyServer(token.slice(0, -1), [K1], { context: "call-1@host" }).ok, false);
  assert.equal(verifyServer(`${token}A`, [K1], { context: "call-1@host" }).ok, false);
});

test("tampering with the decoded bytes fails the MAC or the version check", () => {
  const raw = Buffer.from(sign("fs1:5080"), "base64url");
  for (let i = 0; i < raw.length; i++) {
    const bad = Buffer.from(raw);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    const r = verifyServer(bad.toString("base64url"), [K1]);
    assert.equal(r.ok ? "ok" : r.error, i === 0 ? "malformed" : "bad_mac", `byte ${i}`);
  }
});

test("key rotation: a token of the old key verifies while the old key is still listed", () => {
  const old = sign("fs1:5080", K1);
  const fresh = sign("fs1:5080", K2);
  assert.deepEqual(verifyServer(old, [K2, K1]), { ok: true, server: "fs1:5080" });
  assert.deepEqual(verifyServer(fresh, [K2, K1]), { ok: true, server: "fs1:5080" });
  const retired = verifyServer(old, [K2]);
  assert.equal(!retired.ok && retired.error, "bad_mac");
});

test("a token verified once is read from the cache for its own key list and context only", () => {
  const keys = [K1];
  const t = signServer("fs2:5060", K1, { context: "call-1" });
  assert.ok(t.ok);
  for (let i = 0; i < 3; i++)
    assert.deepEqual(verifyServer(t.token, keys, { context: "call-1" }), { ok: true, server: "fs2:5060" });
  const other = verifyServer(t.token, keys, { context: "call-2" });
  assert.equal(!other.ok && other.error, "bad_mac");
  const otherKeys = verifyServer(t.token, [K2], { context: "call-1" });
  assert.equal(!otherKeys.ok && otherKeys.error, "bad_mac");
});

test("a token this proxy signed is good to its key list at once, and to no other list or context", () => {
  const keys = [K2, K1];
  const t = signFor("fs3:5060", keys, { context: "call-9" });
  assert.ok(t.ok);
  // Signed with the first key: what signServer gives, and what a fresh list verifies.
  assert.deepEqual(t, signServer("fs3:5060", K2, { context: "call-9" }));
  assert.deepEqual(verifyServer(t.token, [K2], { context: "call-9" }), { ok: true, server: "fs3:5060" });
  assert.deepEqual(verifyServer(t.token, keys, { context: "call-9" }), { ok: true, server: "fs3:5060" });
  const other = verifyServer(t.token, keys, { context: "call-8" });
  assert.equal(!other.ok && other.error, "bad_mac");
  const retired = verifyServer(t.token, [K1], { context: "call-9" });
  assert.equal(!retired.ok && retired.error, "bad_mac");
  const none = signFor("fs3:5060", []);
  assert.equal(!none.ok && none.error, "bad_key");
});

test("bad input gives error codes", () => {
  const code = (r: { ok: boolean; error?: string }) => (r.ok ? "ok" : r.error);
  assert.equal(code(signServer("x".repeat(MAX_SERVER_BYTES), K1)), "ok");
  assert.equal(code(signServer("x".repeat(MAX_SERVER_BYTES + 1), K1)), "too_long");
  assert.equal(code(signServer("é".repeat(128), K1)), "too_long"); // 256 bytes
  assert.equal(code(signServer("", K1)), "empty");
  assert.equal(code(signServer("fs1", Buffer.alloc(15))), "bad_key");
  assert.equal(code(signServer("a\ud800b", K1)), "malformed");
  const longest = sign("x".repeat(MAX_SERVER_BYTES));
  assert.ok(longest.length <= MAX_TOKEN_LENGTH);
  assert.equal(code(verifyServer("A".repeat(MAX_TOKEN_LENGTH + 1), [K1])), "too_long");
  assert.equal(code(verifyServer("", [K1])), "malformed");
  assert.equal(code(verifyServer("abc=", [K1])), "malformed");
  assert.equal(code(verifyServer("a+b/", [K1])), "malformed");
  assert.equal(code(verifyServer("AQ", [K1])), "malformed");
  assert.equal(code(verifyServer(sign("fs1"), [])), "bad_key");
  assert.equal(code(verifyServer(sign("fs1"), [Buffer.alloc(4)])), "bad_key");
});

test("the token rides in our Record-Route URI and is read back with uriParam", () => {
  const token = sign("[2001:db8::7]:5080");
  const rr = recordRouteValue({ host: "10.0.0.1", port: 5060, transport: "udp" }, [[RR_TOKEN_PARAM, token]]);
  if (!rr.ok) assert.fail(rr.error.message);
  const uri = parseUri(rr.value.slice(1, -1));
  if (!uri.ok) assert.fail(uri.error.message);
  const back = uriParam(uri.uri, "TL");
  assert.equal(back, token);
  assert.deepEqual(verifyServer(back ?? "", [K1]), { ok: true, server: "[2001:db8::7]:5080" });
});

test("property: any server name up to 255 bytes round trips through <sip:h:p;lr;tl=TOKEN>", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 80 }), fc.string(), (server, ctx) => {
      const r = signServer(server, K1, { context: ctx });
      if (Buffer.byteLength(server) > MAX_SERVER_BYTES) return !r.ok && r.error === "too_long";
      if (!r.ok) return false;
      const uri = parseUri(`sip:h:5060;lr;tl=${r.token}`);
      if (!uri.ok || !PARAMCHAR_RE.test(r.token)) return false;
      const v = verifyServer(uriParam(uri.uri, "tl") ?? "", [K2, K1], { context: ctx });
      return v.ok && v.server === server;
    }),
    runs(300),
  );
});

test("property: random text never throws and never verifies", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 400 }), fc.stringMatching(/^[A-Za-z0-9_-]{0,60}$/)),
      (token) => {
        const r = verifyServer(token, [K1, K2]);
        return !r.ok && ["malformed", "bad_mac", "too_long"].includes(r.error);
      },
    ),
    runs(500),
  );
});

test("property: the MAC is HMAC-SHA256 as createHmac makes it, for keys shorter and longer than a block", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 200 }),
      fc.string({ maxLength: 40 }),
      fc.string({ minLength: 1, maxLength: 60 }).filter((s) => Buffer.from(s, "utf8").toString("utf8") === s),
      (keyBytes, context, server) => {
        const key = Buffer.from(keyBytes);
        const raw = Buffer.from(sign(server, key, context), "base64url");
        const ctx = Buffer.from(context, "utf8");
        const len = Buffer.alloc(4);
        len.writeUInt32BE(ctx.length);
        const expected = createHmac("sha256", key)
          .update(Buffer.from("trunkline-rr\0", "latin1"))
          .update(Buffer.of(1))
          .update(len)
          .update(ctx)
          .update(Buffer.from(server, "utf8"))
          .digest()
          .subarray(0, 16);
        assert.deepEqual(raw.subarray(raw.length - 16), expected);
      },
    ),
    runs(500),
  );
});

test("the verified-token cache keeps copies: a context and a token read from large datagrams hold none of them alive", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const keys = [K1];
  const tokens = Array.from({ length: 300 }, (_, i) => sign(`fs${i}:5060`, K1, `call-${i}@example.com`));
  const pad = "x".repeat(60_000);
  const before = heap();
  for (let i = 0; i < 300; i++) {
    // As the proxy reads them: slices of one datagram's text (an in-dialog request of 60 KB).
    const datagram = `BYE sip:x SIP/2.0\r\nCall-ID: call-${i}@example.com\r\nRoute: <sip:p;lr;tl=${tokens[i]}>\r\n${pad}`;
    const callId = datagram.slice(datagram.indexOf("call-"), datagram.indexOf("\r\nRoute"));
    const token = datagram.slice(
      datagram.indexOf("tl=") + 3,
      datagram.indexOf(">\r\n", datagram.indexOf("tl=")),
    );
    assert.deepEqual(verifyServer(token, keys, { context: callId }), { ok: true, server: `fs${i}:5060` });
  }
  const grown = heap() - before;
  // 300 datagrams of 60 KB are 18 MB; 300 cache entries a few tens of KB.
  assert.ok(grown < 4_000_000, `heap grew ${grown} bytes for 300 verified tokens`);
});
