#!/usr/bin/env node
// Benchmark load generator: plays Asterisk for many short FastAGI sessions at once. Plain JS
// in its own process, so that its CPU is measured apart from the target's.
//
// Load mode (default):
//   node bench/fastagi/loadgen.mjs --ports P[,P2…] [--host H] [--concurrency 32] [--seconds 6]
//                                  [--warmup 1] [--commands 3] [--wait-start]
// Each of `concurrency` workers loops one session after another, written as Asterisk 23.4.1
// writes it (res_agi.c, measured): Nagle left on (no TCP_NODELAY), the header captured from
// Asterisk (test/fixtures/agi/asterisk-23.4.1-originate-query.raw) written one `name: value`
// line per write, then the blank line as a write of its own; each command answered with
// `200 result=0` in a write of its own; and when the server's FIN arrives, one more write,
// `HANGUP`, then its own FIN (the socket is half-open: it writes after the server closed).
// A session counts when the server sent exactly `commands` commands and the connection then
// closed without error. With several ports, sessions alternate between them. Prints JSON
// lines on stdout: {"event":"measure"} when the warm-up ends and the measured window starts,
// {"event":"end"} when it ends (the orchestrator samples the target's CPU on these two), then
// {"event":"result",…} with the figures of the window. With --wait-start it prints
// {"event":"warm"} when the warm-up ends and opens the window only on `start` on stdin (so
// the orchestrator can attach strace first); it exits if stdin closes before that.
//
// Hold mode:
//   node bench/fastagi/loadgen.mjs --ports P --hold 5000 [--concurrency 200]
// (hold.mjs) Opens `hold` sessions (at most `concurrency` connecting at a time), writes the
// header on each (in one write: only the memory of the held session matters here) and keeps
// them open and silent. Prints {"event":"held",…} once all are open; on `release` on stdin
// (or stdin closing) it closes them all and prints {"event":"released"}.
//
// Round trip of one command = from writing the reply to command k until command k+1 arrives
// (what Asterisk waits between two commands: the proxy both ways plus the server). "setup" =
// from opening the connection (connect, then the header line by line) until the first
// command arrives (includes the proxy's upstream connect).
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Histogram } from "../lib/histogram.mjs";

const HEADER = readFileSync(
  new URL("../../test/fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url),
);
/** The header as Asterisk writes it: one line per write, the blank line last, on its own. */
const HEADER_LINES = [];
for (let at = 0; at < HEADER.length; ) {
  const nl = HEADER.indexOf(0x0a, at);
  const end = nl === -1 ? HEADER.length : nl + 1;
  HEADER_LINES.push(HEADER.subarray(at, end));
  at = end;
}
const REPLY = Buffer.from("200 result=0\n");
const HANGUP = Buffer.from("HANGUP\n");
const NL = 0x0a;
const SESSION_IDLE_TIMEOUT_MS = 10_000;
const DRAIN_MS = 3_000;

function fail(msg) {
  process.stderr.write(`loadgen: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    host: "127.0.0.1",
    ports: [],
    concurrency: 32,
    seconds: 6,
    warmup: 1,
    hold: 0,
    commands: 3,
    waitStart: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--wait-start") {
      o.waitStart = true;
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined) fail(`${a} needs a value`);
    i++;
    if (a === "--host") o.host = v;
    else if (a === "--ports") o.ports = v.split(",").map(Number);
    else if (a === "--concurrency") o.concurrency = Number(v);
    else if (a === "--seconds") o.seconds = Number(v);
    else if (a === "--warmup") o.warmup = Number(v);
    else if (a === "--hold") o.hold = Number(v);
    else if (a === "--commands") o.commands = Number(v);
    else fail(`unknown argument ${a}`);
  }
  if (o.ports.length === 0 || o.ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    fail("--ports needs one or more ports 1..65535");
  }
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 10_000)
    fail("--concurrency 1..10000");
  if (!(o.seconds > 0 && o.seconds <= 600)) fail("--seconds must be in (0, 600]");
  if (!(o.warmup >= 0 && o.warmup <= 60)) fail("--warmup must be in [0, 60]");
  if (!Number.isInteger(o.hold) || o.hold < 0 || o.hold > 60_000) fail("--hold 0..60000");
  if (!Number.isInteger(o.commands) || o.commands < 1 || o.commands > 10) fail("--commands 1..10");
  return o;
}

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const opts = parseArgs(process.argv.slice(2));

function runLoad() {
  let measuring = false;
  let running = true;
  let rtt = new Histogram();
  let setup = new Histogram();
  let sessions = 0;
  let errors = {};
  let nextPort = 0;
  let inFlight = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();

  const countError = (kind) => {
    if (!running) return; // sessions cut short by the end of the run are not errors
    errors[kind] = (errors[kind] ?? 0) + 1;
  };

  function session() {
    if (!running) return;
    const port = opts.ports[nextPort];
    nextPort = (nextPort + 1) % opts.ports.length;
    inFlight++;
    let commands = 0;
    let failed = null;
    let lineStart = true;
    let firstByte = 0;
    // As Asterisk: no TCP_NODELAY (Nagle on), and writing on after the server's FIN.
    const sock = connect({ host: opts.host, port, allowHalfOpen: true });
    let tSent = performance.now();
    sock.on("connect", () => {
      sock.setNoDelay(false);
      // One write() per header line, the blank line last (ast_agi_send per line, res_agi.c).
      for (const line of HEADER_LINES) sock.write(line);
    });
    sock.setTimeout(SESSION_IDLE_TIMEOUT_MS, () => {
      failed ??= "timeout";
      sock.destroy();
    });
    sock.on("data", (chunk) => {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (lineStart) {
          firstByte = b;
          lineStart = false;
        }
        if (b !== NL) continue;
        lineStart = true;
        // The proxy's answer when no upstream can take the session (Asterisk → AGISTATUS=FAILURE).
        if (firstByte === 0x46 /* F */) {
          failed ??= "FAILURE";
          continue;
        }
        const now = performance.now();
        if (measuring) (commands === 0 ? setup : rtt).record((now - tSent) * 1000);
        commands++;
        tSent = now;
        sock.write(REPLY);
      }
    });
    // The server closed its side: Asterisk writes HANGUP once more, then closes (res_agi.c).
    sock.on("end", () => {
      if (sock.destroyed || sock.writableEnded) return;
      sock.write(HANGUP);
      sock.end();
    });
    sock.on("error", (err) => {
      failed ??= err.code ?? "error";
    });
    sock.on("close", () => {
      inFlight--;
      if (failed) countError(failed);
      else if (commands !== opts.commands) countError(`closed after ${commands} commands`);
      else if (running) sessions++;
      session();
    });
  }

  const start = () => {
    measuring = true;
    rtt = new Histogram();
    setup = new Histogram();
    sessions = 0;
    errors = {};
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    emit({ event: "measure" });
    setTimeout(stop, opts.seconds * 1000);
  };

  const stop = () => {
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const result = {
      event: "result",
      seconds: Math.round(wall * 1000) / 1000,
      concurrency: opts.concurrency,
      commands: opts.commands,
      sessions,
      sessions_per_s: Math.round((sessions / wall) * 10) / 10,
      errors: Object.values(errors).reduce((a, b) => a + b, 0),
      error_kinds: errors,
      rtt: rtt.summary(),
      setup: setup.summary(),
      // Share of one core this generator used: near 100 % means it, not the target, limits the rate.
      loadgen_cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / (wall * 1000)) * 1000) / 10,
    };
    running = false;
    measuring = false;
    emit({ event: "end" });
    const deadline = setTimeout(() => {
      result.unfinished_at_exit = inFlight;
      emit(result);
      process.exit(0);
    }, DRAIN_MS);
    const poll = setInterval(() => {
      if (inFlight === 0) {
        clearTimeout(deadline);
        clearInterval(poll);
        emit(result);
        process.exit(0);
      }
    }, 20);
  };

  for (let i = 0; i < opts.concurrency; i++) session();
  // With --wait-start the window opens on `start` (stdin) after the warm-up, not by itself.
  const warm = () => {
    if (!opts.waitStart) return start();
    let started = false;
    const rl = createInterface({ input: process.stdin });
    rl.on("line", (line) => {
      if (line.trim() !== "start" || started) return;
      started = true;
      start();
    });
    rl.on("close", () => {
      if (!started) process.exit(3);
    });
    emit({ event: "warm" });
  };
  if (opts.warmup > 0) setTimeout(warm, opts.warmup * 1000);
  else warm();
}

if (opts.hold > 0) {
  const { runHold } = await import("./hold.mjs");
  runHold(opts, HEADER, emit);
} else runLoad();
