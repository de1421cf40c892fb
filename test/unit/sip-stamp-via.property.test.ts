import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { stampTopVia } from "../../src/protocols/sip/forward.ts";
import { headerValue } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";
import { parseVia, parseViaText } from "../../src/protocols/sip/via.ts";

// stampTopVia tells parseVia's cache the parse of the Via it writes (so the response target is
// not parsed again): that must be exactly what parsing the text gives, whatever the Via was.
const casing = (name: string) =>
  fc.constantFrom(name, name.toUpperCase(), name[0]?.toUpperCase() + name.slice(1));
const param = fc.oneof(
  fc.tuple(casing("rport"), fc.option(fc.integer({ min: 1, max: 65535 }).map(String), { nil: undefined })),
  fc.tuple(casing("received"), fc.constantFrom("10.0.0.9", "192.0.2.1", "::1", "host.example")),
  fc.tuple(casing("branch"), fc.constantFrom("z9hG4bK-a1", "z9hG4bKxyz", "old-2543")),
  fc.tuple(fc.constantFrom("maddr", "ttl", "x-y"), fc.constantFrom("1", "224.2.0.1", "v")),
);
const via = fc
  .record({
    transport: fc.constantFrom("UDP", "udp", "TCP", "TLS"),
    host: fc.constantFrom("127.0.0.1", "10.0.0.5", "[2001:db8::1]", "pbx.example.com"),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    params: fc.array(param, { maxLength: 5 }),
  })
  .map(
    (v) =>
      `SIP/2.0/${v.transport} ${v.host}${v.port === undefined ? "" : `:${v.port}`}${v.params
        .map(([n, x]) => (x === undefined ? `;${n}` : `;${n}=${x}`))
        .join("")}`,
  );
const source: fc.Arbitrary<SipPeer> = fc.record({
  transport: fc.constantFrom("udp", "tcp", "tls"),
  host: fc.constantFrom("127.0.0.1", "10.0.0.5", "198.51.100.7", "::1", "2001:db8::1"),
  port: fc.integer({ min: 1, max: 65535 }),
});

test("property: the Via stampTopVia writes is remembered as its parse, field for field", () => {
  fc.assert(
    fc.property(via, fc.option(via, { nil: undefined }), source, (top, below, from) => {
      const vias = below === undefined ? top : `${top}, ${below}`;
      const text = `OPTIONS sip:a@b SIP/2.0\r\nVia: ${vias}\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x@y\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
      const m = parseMessage(Buffer.from(text, "latin1"), { stream: false });
      if (!m.ok || !parseViaText(top).ok) return;
      const stamped = stampTopVia(m.message, from);
      const value = headerValue(stamped, "via") ?? "";
      assert.deepEqual(parseVia(value), parseViaText(value), `${top} from ${JSON.stringify(from)}`);
    }),
    { numRuns: 2000 },
  );
});
