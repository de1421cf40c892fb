import assert from "node:assert/strict";
import { test } from "node:test";
import { recordRoutes } from "../../src/protocols/sip/record-route.ts";
import { verifyServer } from "../../src/protocols/sip/rr-token.ts";

const key = Buffer.alloc(32, 7);
const env = {
  us: { host: "192.0.2.1", port: 5060, transport: "udp" },
  keys: [key],
  serverTransport: "udp",
} as const;

function token(v: string): string {
  const m = /;tl=([^;>]+)/.exec(v);
  assert.ok(m?.[1], v);
  return m[1];
}

test("one Record-Route when the request leaves on the transport it came on", () => {
  const rr = recordRoutes(env, "udp", "10.0.0.21:5060", "call-1");
  assert.equal(rr.length, 1);
  assert.match(rr[0] ?? "", /^<sip:192\.0\.2\.1:5060;transport=udp;lr;tl=/);
});

test("two when the transport changes: the caller-facing one added first, so it ends up below (RFC 5658)", () => {
  const rr = recordRoutes(env, "tcp", "10.0.0.21:5060", "call-1");
  assert.equal(rr.length, 2);
  assert.match(rr[0] ?? "", /;transport=tcp;lr;/);
  assert.match(rr[1] ?? "", /;transport=udp;lr;/);
  for (const v of rr) {
    const r = verifyServer(token(v), [key], { context: "call-1" });
    assert.ok(r.ok);
    assert.equal(r.server, "10.0.0.21:5060");
    // The token is bound to its call: another Call-ID does not verify it.
    assert.equal(verifyServer(token(v), [key], { context: "call-2" }).ok, false);
  }
});

test("no key, no Record-Route (the dialog could not be routed back)", () => {
  assert.deepEqual(recordRoutes({ ...env, keys: [] }, "udp", "10.0.0.21:5060", "c"), []);
});

test("the value is recordRouteValue's, token and all, for IPv6 and every transport; an address no URI can hold gives none", async () => {
  const { recordRouteValue } = await import("../../src/protocols/sip/route.ts");
  for (const us of [
    { host: "192.0.2.1", port: 5060, transport: "udp" },
    { host: "2001:db8::7", port: 5070, transport: "udp" },
    { host: "proxy.example.com", port: 5061, transport: "tls" },
  ])
    for (const inbound of ["udp", "tcp", "tls"] as const) {
      const e = { ...env, us, serverTransport: us.transport as "udp" | "tls" };
      for (const v of recordRoutes(e, inbound, "10.0.0.22:5060", "call-3")) {
        const transport = /;transport=([a-z]+);/.exec(v)?.[1] ?? "";
        const want = recordRouteValue({ ...us, transport }, [["tl", token(v)]]);
        assert.deepEqual({ ok: true, value: v }, want);
      }
    }
  assert.deepEqual(recordRoutes({ ...env, us: { ...env.us, host: "bad host" } }, "udp", "s", "c"), []);
});
