// Overload is not death: when the proxy's own event loop is busy past invite_timeout, the
// server's 180 sits unread in the proxy's socket buffer. A timer that fires late must not
// blame the server for it: no failover, no passive failure, the call stays where it rings.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { callLines, headerLines, sipConfig } from "../helpers/sip-proxy.ts";

interface Peer {
  readonly sock: Socket;
  readonly port: number;
  readonly got: string[];
}

async function peer(t: { after(fn: () => void): void }, answer?: (text: string, p: Peer) => void) {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const p: Peer = { sock, port: sock.address().port, got: [] };
  sock.on("message", (m) => {
    const text = m.toString("latin1");
    p.got.push(text);
    answer?.(text, p);
  });
  t.after(() => sock.close());
  return p;
}

/** A response to `req`, echoing Via, Record-Route, From, Call-ID, CSeq, with our To tag. */
function reply(req: string, status: string): string {
  const keep = ["Via", "Record-Route", "From", "Call-ID", "CSeq"];
  return [
    `SIP/2.0 ${status}`,
    ...keep.flatMap((n) => headerLines(req, n).map((v) => `${n}: ${v}`)),
    `To: ${headerLines(req, "To")[0] ?? ""};tag=srv`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** Blocks this thread (the proxy's, in this process) for `ms`: an overloaded event loop. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

test("a busy event loop past invite_timeout does not fail the call over: the 180 read late keeps it on its server", {
  timeout: 30_000,
}, async (t) => {
  const INVITE_TIMEOUT = 300;
  // A server answers 180 at once, then this process (the proxy's loop) is busy for twice
  // invite_timeout: the 180 lands in the proxy's socket buffer while its timer comes due.
  // Then 486 (an answer, not a failure). Both servers do this; the balancer picks one.
  const ringThenBusy = (text: string, p: Peer) => {
    if (!text.startsWith("INVITE") || p.got.filter((x) => x.startsWith("INVITE")).length > 1) return;
    const [, viaPort] = /127\.0\.0\.1:(\d+)/.exec(headerLines(text, "Via")[0] ?? "") ?? [];
    const to = Number(viaPort);
    p.sock.send(reply(text, "180 Ringing"), to, "127.0.0.1", () => {
      busy(2 * INVITE_TIMEOUT);
      p.sock.send(reply(text, "486 Busy Here"), to, "127.0.0.1");
    });
  };
  const a = await peer(t, ringThenBusy);
  const b = await peer(t, ringThenBusy);
  const caller = await peer(t);
  const proxy = await startProxy(sipConfig([a.port, b.port], `    invite_timeout: ${INVITE_TIMEOUT}ms\n`));
  t.after(() => proxy.close());
  const invite = [
    `INVITE sip:bob@127.0.0.1:${proxy.port("sip")} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKlag1;rport`,
    "Max-Forwards: 70",
    `From: <sip:alice@127.0.0.1:${caller.port}>;tag=a1`,
    "To: <sip:bob@example.com>",
    "Call-ID: own-lag-1",
    "CSeq: 1 INVITE",
    `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  caller.sock.send(invite, proxy.port("sip"), "127.0.0.1");
  await until(() => callLines(proxy).length === 1, 10_000, "the call's log line");
  // The line is written as the 486 is sent; the caller's socket reads it a moment later.
  await until(() => caller.got.length >= 3, 5_000, "the caller's 100, 180 and 486");
  const line = callLines(proxy)[0];
  const invites = (p: Peer) => p.got.filter((x) => x.startsWith("INVITE")).length;
  const [chosen, other] = invites(a) > 0 ? [a, b] : [b, a];
  assert.equal(line?.server, `127.0.0.1:${chosen.port}`, JSON.stringify(line));
  assert.equal(line?.final_code, 486);
  assert.equal(line?.failed_attempts, undefined, JSON.stringify(line));
  // (Timer A may have sent it again: the 180 was read only after the busy spell.)
  assert.ok(invites(chosen) >= 1);
  assert.equal(invites(other), 0, "no INVITE to the other server");
  assert.deepEqual(
    caller.got.map((x) => x.split("\r\n")[0]),
    ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 486 Busy Here"],
  );
  assert.ok(
    !proxy.logs.some((r) => r.event === "server_state"),
    "no passive failure counted against the server",
  );
});
