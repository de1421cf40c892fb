#!/usr/bin/env node
// Benchmark FastAGI server, run as its own process so that its CPU is never counted as
// the proxy's. Plain JS on purpose: it starts in milliseconds and does as little as a
// FastAGI server can (no parsing beyond counting newlines).
//
//   node bench/fastagi/upstream.mjs [--ports N] [--host 127.0.0.1] [--commands 3] [--hold]
//
// Listens on N ports (default 2, each port 0 = picked by the kernel) and prints one JSON line
// `{"event":"listening","ports":[…]}` on stdout. Per connection, after the header's blank
// line it sends `--commands` commands (1..10, default 3; VERBOSE, SET VARIABLE, GET VARIABLE,
// again from the first) one at a time, each after the previous reply line, then closes its
// side (the short session of the benchmark). Asterisk then still writes `HANGUP` and closes:
// that late line is read, counted (`hangups`) and otherwise ignored. With --hold it never
// sends anything: the session stays open and idle, for the memory-per-idle-session test.
//
// Control on stdin, one word per line: `stats` prints `{"event":"stats","open":N,
// "accepted":N,"completed":N,"hangups":N,"errors":N}` (`completed`: sessions it closed after
// the last reply; `hangups`: late HANGUP lines received after that). It exits when stdin
// closes, so it never outlives the orchestrator.
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const KINDS = [
  Buffer.from('VERBOSE "bench" 1\n'),
  Buffer.from("SET VARIABLE X y\n"),
  Buffer.from("GET VARIABLE X\n"),
];
const NL = 0x0a;
const H = 0x48;

function parseArgs(argv) {
  const opts = { ports: 2, host: "127.0.0.1", hold: false, commands: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--hold") opts.hold = true;
    else if (a === "--ports") opts.ports = Number(argv[++i]);
    else if (a === "--host") opts.host = String(argv[++i]);
    else if (a === "--commands") opts.commands = Number(argv[++i]);
    else {
      process.stderr.write(`upstream: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.ports) || opts.ports < 1 || opts.ports > 16) {
    process.stderr.write("upstream: --ports must be 1..16\n");
    process.exit(2);
  }
  if (!Number.isInteger(opts.commands) || opts.commands < 1 || opts.commands > 10) {
    process.stderr.write("upstream: --commands must be 1..10\n");
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const COMMANDS = Array.from({ length: opts.commands }, (_, i) => KINDS[i % KINDS.length]);
const stats = { open: 0, accepted: 0, completed: 0, hangups: 0, errors: 0 };

/**
 * One session. `prev` is the last byte seen, so that a header whose blank line is split
 * across reads (`…\n` | `\n`) is still recognised; `\r` is skipped so CRLF also works.
 * `first` is the first byte of the current line (-1 before it), enough to tell `HANGUP`.
 */
function shortSession(sock) {
  let inHeader = true;
  let prev = 0;
  let step = 0;
  let first = -1;
  sock.on("data", (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x0d) continue;
      if (b !== NL) {
        if (first === -1) first = b;
        prev = b;
        continue;
      }
      const head = first;
      first = -1;
      if (inHeader) {
        if (prev === NL) {
          inHeader = false;
          sock.write(COMMANDS[0]);
        }
        prev = NL;
        continue;
      }
      prev = NL;
      // Lines after our close: Asterisk's late HANGUP (counted), anything else ignored.
      if (step >= COMMANDS.length) {
        if (head === H) stats.hangups++;
        continue;
      }
      // One reply line per command.
      step++;
      if (step < COMMANDS.length) sock.write(COMMANDS[step]);
      else {
        stats.completed++;
        // Our side only: the socket stays readable for the HANGUP Asterisk writes next.
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
