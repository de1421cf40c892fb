// SIP toward servers over TCP: a server whose port refuses the connection is a transport error
// (RFC 3261 §8.1.3.1, handled as a 503), so the INVITE goes to the next server at once, not
// after invite_timeout, and passive health hears of it. Real sockets: a raw TCP caller, the
// proxy with `transports: [tcp]`, one refusing port and one answering SIP transport.
import assert from "node:assert/strict";
import { test } from "node:test";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import { deadPort } from "../helpers/ports.ts";
import { startProxy } from "../helpers/proxy.ts";
import { serverReply, sipRequest } from "../helpers/sip-attack.ts";
import { sipConfig } from "../helpers/sip-proxy.ts";
import { rawPeer, side, until } from "../helpers/sip-stream-kit.ts";

const INVITE_TIMEOUT_MS = 8_000;

test("tcp: an INVITE to a server that refuses the connection fails over at once and the server goes down by passive health", {
  timeout: 60_000,
}, async (t) => {
  const good = await side(t, "tcp", {
    onMessage: (m, s) => {
      if (m.message.kind !== "request" || m.message.method !== "INVITE") return;
      const req = serializeMessage(m.message).toString("latin1");
      s.t.send(m.source, Buffer.from(serverReply(req, "200 OK"), "latin1"), m.flow);
    },
  });
  const refusing = await deadPort();
  const p = await startProxy(
    sipConfig(
      [refusing, good.port],
      `    invite_timeout: ${INVITE_TIMEOUT_MS}ms\n    max_fails: 1\n    fail_timeout: 60s\n`,
      ", transports: [tcp]",
    ),
  );
  t.after(() => p.close());
  const caller = await rawPeer(t, p.port("sip"));
  // Round robin: of two calls, one is offered to the refusing server first.
  const took: number[] = [];
  for (let i = 0; i < 2; i++) {
    const before = caller.text().split("SIP/2.0 200 OK").length;
    const started = Date.now();
    caller.socket.write(
      sipRequest({
        method: "INVITE",
        uri: "sip:bob@127.0.0.1",
        via: `SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-refused-${i};rport`,
        callId: `refused-${i}@test`,
        fromTag: `c${i}`,
      }),
    );
    await until(`call ${i}'s 200`, () => caller.text().split("SIP/2.0 200 OK").length > before, 20_000);
    took.push(Date.now() - started);
  }
  t.diagnostic(`200 OK after ${took.join(" and ")} ms (invite_timeout ${INVITE_TIMEOUT_MS} ms)`);
  for (const ms of took)
    assert.ok(ms < INVITE_TIMEOUT_MS / 2, `a call waited ${ms} ms: no failover at the refusal`);
  await until(
    "the refusing server marked down",
    () =>
      p.logs.some(
        (r) => r.event === "server_state" && r.server === `127.0.0.1:${refusing}` && r.what === "passive",
      ),
    10_000,
  );
  assert.ok(
    !p.logs.some((r) => r.event === "server_state" && r.server === `127.0.0.1:${good.port}`),
    "the answering server kept its state",
  );
});
