import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { EslClient } from "../../src/health/esl/client.ts";
import { startBlackhole } from "../helpers/blackhole.ts";
import { eslTestKit, type FakeFreeSwitch, nextEvent } from "../helpers/freeswitch-esl.ts";

const { fake, client, onCleanup } = eslTestKit();

async function upClient(fs: FakeFreeSwitch): Promise<EslClient> {
  const c = client(fs.port);
  const up = nextEvent(c, "up");
  c.start();
  await up;
  return c;
}

test("rude rejection (the ACL refuses us): reported with FreeSWITCH's text, then retried", async () => {
  const fs = await fake();
  fs.rejectAll = true;
  const c = client(fs.port);
  const down = nextEvent(c, "down");
  c.start();
  assert.deepEqual(await down, {
    reason: "rude_rejection",
    message: "Access Denied, go away.",
    wasUp: false,
    retryInMs: 5,
  });
  const next = nextEvent(c, "down");
  assert.equal((await next).retryInMs, 10, "backs off like any failure");
  fs.rejectAll = false;
  await nextEvent(c, "up");
});

test("disconnect notice (FreeSWITCH shutting down): reported, then reconnects", async () => {
  const fs = await fake();
  const c = await upClient(fs);
  const down = nextEvent(c, "down");
  fs.disconnectAll();
  const d = await down;
  assert.equal(d.reason, "disconnect_notice");
  assert.match(d.message, /^Disconnected, goodbye\./);
  assert.equal(d.wasUp, true);
  await nextEvent(c, "up");
});

test("a body over 1 MiB closes the connection with a protocol error, before the body comes", async () => {
  const fs = await fake();
  const c = await upClient(fs);
  const down = nextEvent(c, "down");
  const closed = once(fs, "closed");
  fs.broadcast(`Content-Length: ${1024 * 1024 + 1}\nContent-Type: text/event-plain\n\n`);
  const d = await down;
  assert.equal(d.reason, "protocol_error");
  assert.match(d.message, /^body_too_large/);
  await closed;
  await nextEvent(c, "up");
});

test("a header section over 16 KiB closes the connection with a protocol error", async () => {
  const fs = await fake();
  const c = await upClient(fs);
  const down = nextEvent(c, "down");
  fs.broadcast(`Content-Type: text/event-plain\nX-Junk: ${"j".repeat(17 * 1024)}`);
  const d = await down;
  assert.equal(d.reason, "protocol_error");
  assert.match(d.message, /^header_section_too_large/);
});

test("garbage instead of a frame, or a first frame that is not auth/request: protocol errors", async () => {
  const fs = await fake();
  const c = await upClient(fs);
  const down = nextEvent(c, "down");
  fs.broadcast("this is not a header line\n\n");
  assert.match((await down).message, /^bad_header_line/);
  c.close();
  fs.mute = true;
  fs.once("connection", (s) => s.write("Content-Type: command/reply\nReply-Text: +OK accepted\n\n"));
  const c2 = client(fs.port);
  const d2 = nextEvent(c2, "down");
  c2.start();
  assert.deepEqual(await d2, {
    reason: "protocol_error",
    message: 'expected auth/request, got "command/reply"',
    wasUp: false,
    retryInMs: 5,
  });
});

test("auth timeout: connected, but no auth request within authTimeoutMs", async () => {
  const fs = await fake();
  fs.mute = true;
  const c = client(fs.port, { authTimeoutMs: 50 });
  const down = nextEvent(c, "down");
  const t0 = Date.now();
  c.start();
  const d = await down;
  assert.equal(d.reason, "auth_timeout");
  assert.ok(Date.now() - t0 >= 48);
});

test("connect timeout: a connect that never completes is abandoned after connectTimeoutMs", async () => {
  const hole = await startBlackhole();
  onCleanup(() => hole.close());
  const c = client(hole.port, { connectTimeoutMs: 60 });
  const down = nextEvent(c, "down");
  c.start();
  const d = await down;
  assert.equal(d.reason, "connect_timeout");
  assert.equal(d.message, "no connection within 60ms");
  c.close();
});

test("a password with a line break is refused up front (it would inject a command)", () => {
  assert.throws(
    () => new EslClient({ host: "127.0.0.1", port: 1, password: "x\n\napi shutdown" }),
    /must not contain CR or LF/,
  );
});
