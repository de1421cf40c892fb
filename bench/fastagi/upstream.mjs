#!/usr/bin/env node
// Benchmark FastAGI server, run as its own process so that its CPU is never counted as
// the proxy's. Plain JS on purpose: it starts in milliseconds and does as little as a
// FastAGI server can (no parsing beyond counting newlines).
//
//   node bench/fastagi/upstream.mjs [--ports N] [--host 127.0.0.1] [--hold]
//
// Listens on N ports (default 2, each port 0 = picked by the kernel) and prints one JSON line
// `{"event":"listening","ports":[…]}` on stdout. Per connection, after the header's blank
// line it sends 3 commands one at a time, each after the previous reply line, then closes
// (the short session of the benchmark). With --hold it never sends anything: the session
// stays open and idle, for the memory-per-idle-session measurement.
//
// Control on stdin, one word per line: `stats` prints
// `{"event":"stats","open":N,"accepted":N,"completed":N,"errors":N}`. It exits when stdin
// closes, so it never outlives the orchestrator.
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const COMMANDS = [
  Buffer.from('VERBOSE "bench" 1\n'),
  Buffer.from("SET VARIABLE X y\n"),
  Buffer.from("GET VARIABLE X\n"),
];
const NL = 0x0a;

function parseArgs(argv) {
  const opts = { ports: 2, host: "127.0.0.1", hold: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--hold") opts.hold = true;
    else if (a === "--ports") opts.ports = Number(argv[++i]);
    else if (a === "--host") opts.host = String(argv[++i]);
    else {
      process.stderr.write(`upstream: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.ports) || opts.ports < 1 || opts.ports > 16) {
    process.stderr.write("upstream: --ports must be 1..16\n");
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const stats = { open: 0, accepted: 0, completed: 0, errors: 0 };

/**
 * One session. `prev` is the last byte seen, so that a header whose blank line is split
 * across reads (`…\n` | `\n`) is still recognised; `\r` is skipped so CRLF also works.
 */
function shortSession(sock) {
  let inHeader = true;
  let prev = 0;
  let step = 0;
  sock.on("data", (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x0d) continue;
      if (b !== NL) {
        prev = b;
        continue;
      }
      if (inHeader) {
        if (prev === NL) {
          inHeader = false;
          sock.write(COMMANDS[0]);
        }
        prev = NL;
        continue;
      }
      prev = NL;
      // One reply line per command; anything after the third reply is ignored.
      step++;
      if (step < COMMANDS.length) sock.write(COMMANDS[step]);
      else if (step === COMMANDS.length) {
        stats.completed++;
        sock.end();
      }
    }
  });
}

function holdSession(sock) {
  // Read and drop whatever comes (the header, a late HANGUP), never answer.
  sock.on("data", () => {});
}

const servers = [];
const ports = [];
for (let i = 0; i < opts.ports; i++) {
  const server = createServer({ noDelay: true }, (sock) => {
    stats.open++;
    stats.accepted++;
    sock.on("error", () => {
      stats.errors++;
    });
    sock.on("close", () => {
      stats.open--;
    });
    if (opts.hold) holdSession(sock);
    else shortSession(sock);
  });
  server.on("error", (err) => {
    process.stderr.write(`upstream: ${err.message}\n`);
    process.exit(1);
  });
  servers.push(server);
  await new Promise((resolve) => server.listen({ host: opts.host, port: 0, backlog: 4096 }, resolve));
  ports.push(server.address().port);
}
process.stdout.write(`${JSON.stringify({ event: "listening", ports, hold: opts.hold })}\n`);

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (line.trim() === "stats") process.stdout.write(`${JSON.stringify({ event: "stats", ...stats })}\n`);
});
rl.on("close", () => process.exit(0));
