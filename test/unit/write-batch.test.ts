import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { batchedWrite, flushAndDestroy, isHeld, whenFlushed } from "../../src/net/write-batch.ts";
import { until } from "../helpers/proxy.ts";

/** A loopback pair: `ours` writes, `peer` collects what it receives. */
async function pair(t: { after(fn: () => unknown): void }): Promise<{
  ours: Socket;
  got: () => string;
  ended: () => boolean;
}> {
  const server: Server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const ours = connect(addr.port, "127.0.0.1");
  await once(ours, "connect");
  const [peer] = await accepted;
  let text = "";
  let ended = false;
  peer.setEncoding("latin1");
  peer.on("data", (d: string) => {
    text += d;
  });
  peer.on("end", () => {
    ended = true;
  });
  peer.on("error", () => {});
  ours.on("error", () => {});
  t.after(() => {
    ours.destroy();
    peer.destroy();
    server.close();
  });
  return { ours, got: () => text, ended: () => ended };
}

test("writes made in one turn of the loop are held, then let go together, in order, after it", async (t) => {
  const a = await pair(t);
  const b = await pair(t);
  batchedWrite(a.ours, "one ");
  a.ours.write("two ");
  batchedWrite(a.ours, Buffer.from("three"));
  batchedWrite(b.ours, "other", "latin1");
  // Nothing reached the kernel yet: all of it waits in the sockets' own buffers.
  assert.equal(a.ours.writableLength, 13);
  assert.equal(b.ours.writableLength, 5);
  assert.ok(isHeld(a.ours) && isHeld(b.ours));
  await new Promise((r) => setImmediate(r));
  assert.equal(a.ours.writableLength, 0, "handed to the kernel right after the turn");
  assert.equal(b.ours.writableLength, 0);
  assert.ok(!isHeld(a.ours) && !isHeld(b.ours));
  await until(() => a.got() === "one two three" && b.got() === "other", 3000, "bytes at the peers");
});

test("whenFlushed runs once the held bytes are handed over, and at once when nothing is held", async (t) => {
  const a = await pair(t);
  let now = false;
  whenFlushed(() => {
    now = true;
  });
  assert.ok(now, "nothing held: at once");
  batchedWrite(a.ours, "answer");
  const seen: number[] = [];
  whenFlushed(() => seen.push(a.ours.writableLength));
  assert.deepEqual(seen, [], "not before the end of the turn");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [0], "after the bytes left the socket's buffer");
  await until(() => a.got() === "answer", 3000, "the answer at the peer");
});

test("flushAndDestroy lets held bytes go first; a plain destroy would drop them", async (t) => {
  const kept = await pair(t);
  batchedWrite(kept.ours, "last words");
  flushAndDestroy(kept.ours);
  await until(() => kept.got() === "last words", 3000, "the held bytes at the peer");

  const dropped = await pair(t);
  batchedWrite(dropped.ours, "lost");
  dropped.ours.destroy();
  await until(() => dropped.ended() || dropped.got() !== "", 3000, "the peer sees the close");
  await new Promise((r) => setImmediate(r));
  assert.equal(dropped.got(), "", "destroy() drops what is held: why the HTTP wire uses flushAndDestroy");
});

test("end() after a held write sends the bytes, then the FIN", async (t) => {
  const a = await pair(t);
  batchedWrite(a.ours, "bye");
  a.ours.end();
  await until(() => a.ended(), 3000, "the FIN");
  assert.equal(a.got(), "bye");
  await new Promise((r) => setImmediate(r));
  assert.ok(!isHeld(a.ours));
});

test("a whenFlushed callback that throws does not strand the ones after it", () => {
  // In a child process: the throw is an uncaught exception there, as in the proxy.
  const mod = fileURLToPath(new URL("../../src/net/write-batch.ts", import.meta.url));
  const script = `
    import { createServer, connect } from "node:net";
    import { batchedWrite, whenFlushed } from ${JSON.stringify(mod)};
    const ran = [];
    process.on("uncaughtException", (err) => { console.log(JSON.stringify({ err: err.message, ran })); process.exit(0); });
    const server = createServer().listen(0, "127.0.0.1", () => {
      const s = connect(server.address().port, "127.0.0.1", () => {
        batchedWrite(s, "x");
        whenFlushed(() => { ran.push("first"); throw new Error("boom"); });
        whenFlushed(() => ran.push("second"));
      });
    });`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { err: "boom", ran: ["first", "second"] });
});
