import assert from "node:assert/strict";
import { test } from "node:test";
import { coreProxy } from "../../src/app/sip-core.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SimClock } from "../../src/protocols/sip/sim-clock.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";

const caller: SipPeer = { transport: "udp", host: "127.0.0.1", port: 5080 };

/** The port each INVITE went to, through a fresh socket-less proxy with a hash pool keyed by `key`. */
function serversFor(key: string, invites: readonly { callId: string; user: string }[]): number[] {
  const sent: SipPeer[] = [];
  const proxy = coreProxy(
    `routes: [ { listener: sip, pool: fs } ]
pools: { fs: { balance: hash, hash_key: "${key}", servers: [ { address: 127.0.0.1:5070 }, { address: 127.0.0.1:5071 }, { address: 127.0.0.1:5072 }, { address: 127.0.0.1:5073 } ] } }
`,
    (to, bytes) => {
      if (bytes.toString("latin1", 0, 7) === "INVITE ") sent.push(to);
    },
    new SimClock(),
  );
  for (const [i, inv] of invites.entries()) {
    const buf = Buffer.from(
      `INVITE sip:${inv.user}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-h${i}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5080>;tag=a${i}\r\nTo: <sip:${inv.user}@127.0.0.1:5060>\r\nCall-ID: ${inv.callId}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`,
      "latin1",
    );
    const m = parseMessage(buf, { stream: false });
    assert.ok(m.ok);
    if (m.ok) proxy.handle({ message: m.message, source: caller, flow: undefined, size: buf.length });
  }
  proxy.close();
  assert.equal(sent.length, invites.length, "every INVITE went on");
  return sent.map((p) => p.port);
}

const invites = Array.from({ length: 40 }, (_, i) => ({ callId: `hash-${i}@127.0.0.1`, user: `u${i % 2}` }));

test("balance: hash keyed by the Call-ID: a Call-ID goes to the same server from any proxy, the Call-IDs spread", () => {
  const a = serversFor(`\${call_id}`, invites);
  const b = serversFor(`\${call_id}`, invites);
  assert.deepEqual(a, b);
  assert.ok(new Set(a).size >= 2, `40 Call-IDs over 4 servers used ${new Set(a).size}`);
});

test("balance: hash keyed by the Request-URI: the same Request-URI, the same server, whatever the Call-ID", () => {
  const ports = serversFor(`\${request_uri}`, invites);
  const byUser = new Map<string, Set<number>>();
  for (const [i, inv] of invites.entries()) {
    const set = byUser.get(inv.user) ?? new Set<number>();
    set.add(ports[i] as number);
    byUser.set(inv.user, set);
  }
  for (const [user, set] of byUser)
    assert.equal(set.size, 1, `${user}'s INVITEs went to ${[...set].join(", ")}`);
});
