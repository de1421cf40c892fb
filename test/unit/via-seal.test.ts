import assert from "node:assert/strict";
import { test } from "node:test";
import { newBranch } from "../../src/protocols/sip/branch.ts";
import { SEAL_CHARS, sealedFor, sealFor } from "../../src/protocols/sip/via-seal.ts";

const KEY = Buffer.from("0123456789abcdef0123456789abcdef");
const OLD = Buffer.from("an older key, still verifying");
const CALLER = { transport: "udp", host: "192.0.2.7", port: 5062 } as const;

test("a sealed branch verifies for its own back target only, under any key of the rotation", () => {
  const b = newBranch("loopkey1234", sealFor(KEY, CALLER));
  assert.match(b, new RegExp(`^z9hG4bK[A-Za-z0-9_-]{${24 + SEAL_CHARS}}\\.loopkey1234$`));
  assert.equal(sealedFor([KEY], b, CALLER), true);
  assert.equal(sealedFor([OLD, KEY], b, CALLER), true, "a rotation keeps older keys verifying");
  assert.equal(sealedFor([OLD], b, CALLER), false, "another key");
  assert.equal(sealedFor([KEY], b, { ...CALLER, port: 5063 }), false, "another port");
  assert.equal(sealedFor([KEY], b, { ...CALLER, host: "192.0.2.8" }), false, "another host");
  assert.equal(sealedFor([KEY], b, { ...CALLER, transport: "tcp" }), false, "another transport");
  const unlooped = newBranch(undefined, sealFor(KEY, CALLER));
  assert.equal(sealedFor([KEY], unlooped, CALLER), true, "no loop key");
});

test("branches not sealed, cut or altered are refused", () => {
  const b = newBranch("k", sealFor(KEY, CALLER));
  for (const bad of [
    newBranch("k"),
    "z9hG4bK",
    "z9hG4bK.k",
    "1234",
    b.replace("z9hG4bK", "z9hG4bk"),
    b.slice(0, -3),
    `${b.slice(0, 10)}${b[10] === "A" ? "B" : "A"}${b.slice(11)}`,
  ])
    assert.equal(sealedFor([KEY], bad, CALLER), false, bad);
  assert.equal(sealedFor([], b, CALLER), false, "no key");
});
