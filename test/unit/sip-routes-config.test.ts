import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import type { SipListenerOptions, SipRoute } from "../../src/protocols/sip/config.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { SipRoutes } from "../../src/protocols/sip/routes.ts";
import type { SipRequest } from "../../src/protocols/sip/types.ts";
import { problems } from "../helpers/config-problems.ts";

const BASE = `
listeners:
  - { name: sip, protocol: sip, listen: 127.0.0.1:5060 }
routes:
  - listener: sip
    match: { method: ^INVITE$, ruri_user: ^\\+?1, from_user: ^alice$, headers: { X-Tenant: ^gold$ } }
    pool: gold
  - listener: sip
    match: { ruri_host: ^example\\.com$ }
    pool: fs
pools:
  gold: { servers: [ { address: 10.0.0.1 } ] }
  fs: { servers: [ { address: 10.0.0.2:5080 } ] }
`;

function req(uri: string, from: string, extra = ""): SipRequest {
  const text = `INVITE ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nFrom: <sip:${from}@1.2.3.4>;tag=1\r\nTo: <${uri}>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n${extra}Content-Length: 0\r\n\r\n`;
  const m = parseMessage(Buffer.from(text), { stream: false });
  assert.ok(m.ok && m.message.kind === "request");
  return m.message;
}

test("sip config: defaults, pool servers on port 5060, routes compiled", () => {
  const s = parseConfigText(BASE, "t.yaml");
  const o = s.listeners[0]?.options as SipListenerOptions;
  assert.deepEqual(o.transports, ["udp"]);
  assert.equal(o.maxCalls, 100_000);
  assert.equal(o.callTimeoutMs, 4 * 3600_000);
  assert.equal(o.advertise, undefined);
  assert.equal(s.pools.get("gold")?.servers[0]?.address.port, 5060);
  assert.equal(s.pools.get("fs")?.servers[0]?.address.port, 5080);
  assert.equal(s.pools.get("gold")?.hashKeyOf(new Map([["call_id", "abc"]])), "abc");
});

test("sip routes: every regex must match; first matching route wins; headers by any case", () => {
  const s = parseConfigText(BASE, "t.yaml");
  const table = new SipRoutes(s.routes as SipRoute[]);
  const gold = req("sip:+15551234@example.com", "alice", "x-tenant: gold\r\n");
  assert.equal(table.find("sip", gold)?.pool, "gold");
  assert.equal(table.find("sip", req("sip:+15551234@example.com", "bob", "X-Tenant: gold\r\n"))?.pool, "fs");
  assert.equal(table.find("sip", req("sip:+15551234@example.com", "alice"))?.pool, "fs");
  assert.equal(table.find("sip", req("sip:2000@other.net", "alice", "X-Tenant: gold\r\n")), undefined);
  assert.equal(table.find("other", gold), undefined);
});

test("sip config errors name the file, the path and what is wrong", () => {
  const bad = BASE.replace(
    "listen: 127.0.0.1:5060 }",
    'listen: 127.0.0.1:5060, transports: [tcp, tls], secret: short, advertise: "h:x", max_calls: 0 }',
  ).replace("^alice$", "(");
  const p = problems(bad).join("\n");
  assert.match(p, /t\.yaml:\d+:\d+ listeners\[0\]\.max_calls: /);
  // zod rejects max_calls first; the rest is checked once the keys are well typed.
  const p2 = problems(bad.replace(", max_calls: 0", "")).join("\n");
  assert.match(p2, /listeners\[0\]\.transports: tcp and tls cannot share a port/);
  assert.match(p2, /listeners\[0\]\.transports: transport tls needs tls: \{ cert, key \}/);
  assert.match(p2, /listeners\[0\]\.secret: the secret must be at least 16 bytes/);
  assert.match(p2, /listeners\[0\]\.advertise: /);
  assert.match(p2, /routes\[0\]\.match\.from_user: invalid regular expression/);
  assert.match(problems(BASE.replace("pool: fs", "")).join("\n"), /routes\[1\]: a sip route needs a pool/);
  assert.match(
    problems(BASE.replace("ruri_host:", "ruri_hots:")).join("\n"),
    /routes\[1\]\.match.*ruri_hots/,
  );
});
