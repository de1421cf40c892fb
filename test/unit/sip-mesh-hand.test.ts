// SIP messages handed between listener threads (protocols/sip/mesh-hand.ts): what crosses is
// the datagram and its sender, cloned as a thread channel clones it, and parsed again there.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hand, ownerOf, revive } from "../../src/protocols/sip/mesh-hand.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import type { SipInbound } from "../../src/protocols/sip/transport.ts";

const INVITE = [
  "INVITE sip:bob@127.0.0.1:5060 SIP/2.0",
  "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1;rport",
  "f: <sip:alice@127.0.0.1>;tag=a1",
  "To: <sip:bob@127.0.0.1>",
  "Call-ID: 1-hand@127.0.0.1",
  "CSeq: 1 INVITE",
  "Content-Length: 4",
  "",
  "v=0\n",
].join("\r\n");

function inbound(raw: Buffer): SipInbound {
  const p = parseMessage(raw, { stream: false });
  assert.ok(p.ok);
  return {
    message: p.message,
    source: { transport: "udp", host: "127.0.0.1", port: 5061 },
    flow: undefined,
    size: raw.length,
    raw,
  };
}

/** A datagram as dgram gives it: a Buffer that owns its memory, offset 0, its length exactly. */
function datagram(text: string): Buffer {
  const b = Buffer.alloc(Buffer.byteLength(text, "latin1"));
  b.write(text, "latin1");
  return b;
}

test("a UDP message crosses as its bytes and sender, and parses the same on the other side", () => {
  const raw = datagram(INVITE);
  const m = inbound(raw);
  const h = hand(m);
  assert.ok(h);
  assert.equal(h.b, raw, "a datagram's own buffer goes as it is (the clone copies it)");
  const back = revive(structuredClone(h));
  assert.ok(!("code" in back));
  assert.deepEqual(back.source, m.source);
  assert.equal(back.size, m.size);
  assert.equal(back.message.kind, "request");
  assert.deepEqual(back.message.headers, m.message.headers);
  assert.deepEqual([...back.message.body], [...m.message.body]);
});

test("a datagram that is a view into a larger buffer crosses with its own bytes only", () => {
  const big = Buffer.alloc(8192, 0x20);
  big.write(INVITE, 100, "latin1");
  const raw = big.subarray(100, 100 + Buffer.byteLength(INVITE));
  const h = hand(inbound(raw));
  assert.ok(h);
  assert.equal(h.b.buffer.byteLength, raw.length, "not the whole 8 KiB");
  const back = revive(structuredClone(h));
  assert.ok(!("code" in back));
  assert.equal(back.raw?.toString("latin1"), INVITE);
});

test("a message from a stream is never handed (its connection stays with its thread)", () => {
  const m = inbound(datagram(INVITE));
  assert.equal(hand({ ...m, source: { transport: "tcp", host: "127.0.0.1", port: 5061 } }), undefined);
  const { raw: _raw, ...noRaw } = m;
  assert.equal(hand(noRaw), undefined);
});

test("the owner of a Call-ID is FNV-1a over it, modulo the threads (the same on every thread)", () => {
  // FNV-1a 32-bit of "a" is 0xe40c292c; of "" the offset basis 0x811c9dc5.
  assert.equal(ownerOf("a", 1_000_000), 0xe40c292c % 1_000_000);
  assert.equal(ownerOf("", 7), 0x811c9dc5 % 7);
});

test("bytes that do not parse on the owner's side come back as the parser's error", () => {
  const back = revive({ b: new Uint8Array(Buffer.from("not sip\r\n\r\n")), h: "127.0.0.1", p: 1 });
  assert.ok("code" in back);
});
