#!/usr/bin/env node
// A bare Node TCP relay, the floor of what any Node proxy costs: no header parsing, no
// routing, no logs, no metrics, no timers. Plain JS on purpose: it starts in milliseconds.
//
//   node bench/fastagi/relay.mjs --upstream P1[,P2…] [--port 0] [--host 127.0.0.1]
//
// Listens on --port (0 = picked by the kernel) and prints one JSON line
// `{"event":"listening","port":N}` on stdout. Per connection it connects to the upstream
// ports in turn (alternately with 2) and pipes both ways; both sockets are half-open
// (allowHalfOpen), so Asterisk's late HANGUP after the server's FIN still reaches the server.
// An error or a close on either side destroys both. It exits when stdin closes, so it never
// outlives the orchestrator.
//
// --lean 1: the leanest relay that public Node APIs allow, the floor for issue 12's "relay
// leaner than Node's stream pipes". The upstream socket reads through `onread` into one
// buffer shared by every socket (no 64 KiB allocation, ArrayBuffer or Readable push per
// read; each read is copied once, into the client write); the client socket, which comes
// from net.Server's accept and so has no `onread`, is read through 'data'; writes are direct
// (no pipe(), no backpressure bookkeeping: the bench's sessions are a few hundred bytes);
// each side's FIN is passed on with end().
//
// --batch 1 (with --lean 1): the same, with every write held (cork) until the event loop has
// handled its batch of I/O events and let go from one setImmediate, as Trunkline's
// src/net/write-batch.ts does: a write that wakes a sleeping peer costs far more than one that
// finds it running.
import { connect, createServer } from "node:net";
import { createInterface } from "node:readline";

function fail(msg) {
  process.stderr.write(`relay: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { host: "127.0.0.1", port: 0, upstream: [], lean: false, batch: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) fail(`${a} needs a value`);
    i++;
    if (a === "--host") o.host = v;
    else if (a === "--port") o.port = Number(v);
    else if (a === "--upstream") o.upstream = v.split(",").map(Number);
    else if (a === "--lean") o.lean = v === "1";
    else if (a === "--batch") o.batch = v === "1";
    else fail(`unknown argument ${a}`);
  }
  const bad = (p) => !Number.isInteger(p) || p < 1 || p > 65535;
  if (o.upstream.length === 0 || o.upstream.some(bad)) fail("--upstream needs one or more ports 1..65535");
  if (o.port !== 0 && bad(o.port)) fail("--port must be 0..65535");
  return o;
}

const opts = parseArgs(process.argv.slice(2));
let next = 0;

const shared = Buffer.allocUnsafeSlow(64 * 1024);

const held = [];
let scheduled = false;
function flush() {
  scheduled = false;
  for (const s of held) if (s.writableCorked > 0 && !s.destroyed) s.uncork();
  held.length = 0;
}
/** A write, held to the end of this batch of events with --batch 1. */
function write(sock, data) {
  if (opts.batch && sock.writableCorked === 0) {
    sock.cork();
    held.push(sock);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }
  sock.write(data);
}
/** destroy(), after letting held bytes go. */
function destroy(sock) {
  if (sock.writableCorked > 0 && !sock.destroyed) sock.uncork();
  sock.destroy();
}

/** The lean relay of one session (see --lean above). */
function lean(client, port) {
  const onread = {
    buffer: shared,
    callback: (n, buf) => {
      write(client, Buffer.from(buf.subarray(0, n)));
      return true;
    },
  };
  const up = connect({ host: opts.host, port, noDelay: true, allowHalfOpen: true, onread });
  const done = () => {
    destroy(client);
    destroy(up);
  };
  client.on("data", (d) => write(up, d));
  client.on("end", () => up.end());
  up.on("end", () => client.end());
  client.on("error", done);
  up.on("error", done);
  client.on("close", done);
  up.on("close", done);
}

const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const port = opts.upstream[next];
  next = (next + 1) % opts.upstream.length;
  if (opts.lean) return lean(client, port);
  const up = connect({ host: opts.host, port, noDelay: true, allowHalfOpen: true });
  const done = () => {
    client.destroy();
    up.destroy();
  };
  client.on("error", done);
  up.on("error", done);
  client.on("close", done);
  up.on("close", done);
  client.pipe(up);
  up.pipe(client);
});
server.on("error", (err) => fail(err.message));
server.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ event: "listening", port: server.address().port })}\n`);
});

createInterface({ input: process.stdin }).on("close", () => process.exit(0));
