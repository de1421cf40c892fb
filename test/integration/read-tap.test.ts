// The upstream read path of the relay (net/read-tap.ts through connectUpstream): bytes read
// through Node's `onread` into one shared buffer, on real loopback sockets.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { connectUpstream } from "../../src/net/connect.ts";
import { ReadTap, readBuffer } from "../../src/net/read-tap.ts";

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const a = server.address();
  if (!a || typeof a === "string") throw new Error("no address");
  return { server, port: a.port };
}

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test("chunks are the reader's own: later reads into the shared buffer do not change them", async () => {
  const { server, port } = await listen((s) => {
    s.write("first\n");
    s.once("data", () => s.end("second\n"));
  });
  const tap = new ReadTap();
  const sock = await connectUpstream({ host: "127.0.0.1", port }, undefined, 2_000, undefined, tap);
  const got: Buffer[] = [];
  let ended = false;
  sock.on("end", () => {
    ended = true;
  });
  tap.attach((c) => got.push(c), sock);
  await until("the first line", () => got.length === 1);
  sock.write("go\n");
  await until("the second line and the FIN", () => got.length === 2 && ended);
  assert.equal(Buffer.concat(got).toString(), "first\nsecond\n");
  // Both reads went through the one shared buffer; the first chunk kept its bytes.
  assert.equal(got[0]?.toString(), "first\n");
  assert.equal(readBuffer().subarray(0, 7).toString(), "second\n");
  sock.destroy();
  server.close();
});

test("what a server sends before attach() is kept and handed on first, in order", async () => {
  const { server, port } = await listen((s) => s.write("banner\n"));
  const tap = new ReadTap();
  const sock = await connectUpstream({ host: "127.0.0.1", port }, undefined, 2_000, undefined, tap);
  // The banner is read (the socket counts it) with nobody attached.
  await until("the banner read", () => sock.bytesRead >= 7);
  const got: string[] = [];
  tap.attach((c) => got.push(c.toString()), sock);
  assert.deepEqual(got, ["banner\n"]);
  sock.destroy();
  server.close();
});

test("a server flooding before attach() is paused at 64 KiB, then resumed with nothing lost", async () => {
  const total = 1024 * 1024;
  const { server, port } = await listen((s) => s.end(Buffer.alloc(total, 0x61)));
  const tap = new ReadTap();
  const sock = await connectUpstream({ host: "127.0.0.1", port }, undefined, 2_000, undefined, tap);
  await until("the cap read", () => sock.bytesRead >= 64 * 1024);
  // A moment for any read past the cap to show (there must be none).
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(sock.bytesRead < 2 * 64 * 1024, `read before attach: ${sock.bytesRead}`);
  let bytes = 0;
  let ended = false;
  sock.on("end", () => {
    ended = true;
  });
  tap.attach((c) => {
    bytes += c.length;
  }, sock);
  await until("every byte and the FIN", () => ended, 10_000);
  assert.equal(bytes, total);
  sock.destroy();
  server.close();
});

test("a sink that pauses the socket stops the reads until it resumes it (backpressure)", async () => {
  const { server, port } = await listen((s) => {
    s.write("a\n");
    s.write(Buffer.alloc(256 * 1024, 0x62));
    s.end();
  });
  const tap = new ReadTap();
  const sock = await connectUpstream({ host: "127.0.0.1", port }, undefined, 2_000, undefined, tap);
  let bytes = 0;
  let ended = false;
  sock.on("end", () => {
    ended = true;
  });
  tap.attach((c) => {
    bytes += c.length;
    sock.pause();
  }, sock);
  await until("a first read", () => bytes > 0);
  const atPause = bytes;
  // A moment for a read past the pause to show (there must be none).
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(bytes, atPause, "no read while paused");
  const t = setInterval(() => sock.resume(), 1);
  try {
    await until("every byte", () => ended, 10_000);
  } finally {
    clearInterval(t);
  }
  assert.equal(bytes, 2 + 256 * 1024);
  sock.destroy();
  server.close();
});
