/**
 * Hostile answers to the sip-options health check, against a running proxy: can a spoofed,
 * stray, huge or malformed reply mark a silent server up?
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { test } from "node:test";
import { adminProxy, onCleanup, waitUntil } from "../helpers/peer-attack.ts";
import { echoedHeaders, sipResponse } from "../helpers/sip-options-responder.ts";

async function udp() {
  const s = createSocket("udp4");
  s.on("error", () => {});
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  onCleanup(() => s.close());
  return s;
}

// Covers (passes): the server's own port never answers; what comes instead is the matching 200
// sent from another port, 200s with another Call-ID or branch from its own port, a 60 KB answer
// with the right IDs but no status line, and a flood of 100 Trying. None of it is an answer: the
// server stays down; a real answer brings it up.
test("sip-options: spoofed, stray, huge and malformed replies never mark a silent server up", async () => {
  const server = await udp();
  const spoofer = await udp();
  let mode = "attack";
  let got = 0;
  server.on("message", (m, r) => {
    got++;
    const req = m.toString("latin1");
    if (mode === "answer") {
      server.send(sipResponse(req, 200, "OK"), r.port, r.address);
      return;
    }
    // the right answer, from another port
    spoofer.send(sipResponse(req, 200, "OK"), r.port, r.address);
    // from the right port, but another Call-ID / another branch
    server.send(
      sipResponse(req, 200, "OK").replace(/Call-ID: [^\r]+/i, "Call-ID: other@x"),
      r.port,
      r.address,
    );
    server.send(
      sipResponse(req, 200, "OK").replace(/branch=[^;\r]+/i, "branch=z9hG4bKforged"),
      r.port,
      r.address,
    );
    // the right IDs, garbage around them, 60 KB
    server.send(`HELLO 200\r\n${echoedHeaders(req)}X: ${"x".repeat(60_000)}\r\n\r\n`, r.port, r.address);
    server.send(`SIP/2.0 200\r\n${echoedHeaders(req)}Content-Length: 99999\r\n\r\n`, r.port, r.address);
    for (let i = 0; i < 200; i++) server.send(sipResponse(req, 100, "Trying"), r.port, r.address);
  });
  const sipPort = server.address().port;
  const a = await adminProxy(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    health: { interval: 150ms, timeout: 300ms, rise: 1, fall: 1, checks: [ sip-options ] }
    servers: [ { address: 127.0.0.1:${sipPort} } ]
`);
  const addr = `127.0.0.1:${sipPort}`;
  await waitUntil(async () => (await a.server("fs", addr))?.state === "down", 4000, "down");
  const pings = got;
  await waitUntil(() => got >= pings + 4, 4000, "four more pings");
  const s = await a.server("fs", addr);
  assert.equal(s.state, "down", `marked ${s.state} by a reply that does not answer the ping`);
  assert.match(s.layers.health.reason, /no answer within 300ms/);
  assert.equal(
    a.p.logs.filter((r) => r.event === "server_state" && r.to === "up").length,
    0,
    "never up in between",
  );
  mode = "answer";
  await waitUntil(async () => (await a.server("fs", addr))?.state === "up", 4000, "up on a real answer");
});
