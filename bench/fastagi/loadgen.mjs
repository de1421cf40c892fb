#!/usr/bin/env node
// Benchmark load generator: plays Asterisk for many short FastAGI sessions at once. Plain JS
// in its own process, so that its CPU is measured apart from the target's.
//
// Load mode (default):
//   node bench/fastagi/loadgen.mjs --ports P[,P2…] [--host H] [--concurrency 32] [--seconds 8] [--warmup 1]
// Each of `concurrency` workers loops: connect, write a real Asterisk header (captured bytes
// from Asterisk 23.4.1), answer every command line with `200 result=0`, and count a session
// when the server closes after 3 commands. With several ports, sessions alternate between
// them. Prints JSON lines on stdout: {"event":"measure"} when the warm-up ends and the
// measured window starts, {"event":"end"} when it ends (the orchestrator samples the target's
// CPU on these two), then {"event":"result",…} with the figures of the window.
//
// Hold mode:
//   node bench/fastagi/loadgen.mjs --ports P --hold 5000 [--concurrency 200]
// Opens `hold` sessions (at most `concurrency` connecting at a time), writes the header on
// each and keeps them open and silent. Prints {"event":"held",…} once all are open; on
// `release` on stdin (or stdin closing) it closes them all and prints {"event":"released"}.
//
// Round trip of one command = from writing the reply to command k until command k+1 arrives
// (what Asterisk waits between two commands: the proxy both ways plus the server). "setup" =
// from writing the header until the first command arrives (includes the proxy's upstream
// connect).
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

const HEADER = readFileSync(
  new URL("../../test/fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url),
);
const REPLY = Buffer.from("200 result=0\n");
const NL = 0x0a;
const COMMANDS_PER_SESSION = 3;
const SESSION_IDLE_TIMEOUT_MS = 10_000;
const DRAIN_MS = 3_000;

function fail(msg) {
  process.stderr.write(`loadgen: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { host: "127.0.0.1", ports: [], concurrency: 32, seconds: 8, warmup: 1, hold: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) fail(`${a} needs a value`);
    i++;
    if (a === "--host") o.host = v;
    else if (a === "--ports") o.ports = v.split(",").map(Number);
    else if (a === "--concurrency") o.concurrency = Number(v);
    else if (a === "--seconds") o.seconds = Number(v);
    else if (a === "--warmup") o.warmup = Number(v);
    else if (a === "--hold") o.hold = Number(v);
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
  return o;
}

/**
 * Log-linear histogram of integer microseconds: exact below 1024 µs, then 512 sub-buckets
 * per power of two (under 0.2 % error), like HdrHistogram with 3 significant digits.
 */
class Histogram {
  constructor() {
    this.counts = new Uint32Array(1024 + 32 * 512);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }
  record(us) {
    const v = us < 0 ? 0 : Math.round(us);
    let idx;
    if (v < 1024) idx = v;
    else {
      const e = 31 - Math.clz32(v) - 9;
      idx = 1024 + (e - 1) * 512 + ((v >>> e) - 512);
    }
    if (idx >= this.counts.length) idx = this.counts.length - 1;
    this.counts[idx]++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }
  /** Midpoint of the bucket holding quantile q, in µs. */
  quantile(q) {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        if (i < 1024) return i;
        const k = i - 1024;
        const e = Math.floor(k / 512) + 1;
        const m = (k % 512) + 512;
        return Math.min(this.max, (m + 0.5) * 2 ** e);
      }
    }
    return this.max;
  }
  summary() {
    const ms = (us) => (us === null ? null : Math.round(us) / 1000);
    return {
      count: this.total,
      p50_ms: ms(this.quantile(0.5)),
      p90_ms: ms(this.quantile(0.9)),
      p99_ms: ms(this.quantile(0.99)),
      max_ms: ms(this.total ? this.max : null),
      mean_ms: this.total ? Math.round(this.sum / this.total) / 1000 : null,
    };
  }
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
    const sock = connect({ host: opts.host, port, noDelay: true });
    let tSent = performance.now();
    sock.write(HEADER);
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
    sock.on("error", (err) => {
      failed ??= err.code ?? "error";
    });
    sock.on("close", () => {
      inFlight--;
      if (failed) countError(failed);
      else if (commands !== COMMANDS_PER_SESSION) countError(`closed after ${commands} commands`);
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
  if (opts.warmup > 0) setTimeout(start, opts.warmup * 1000);
  else start();
}

function runHold() {
  const socks = new Set();
  let opened = 0;
  let started = 0;
  const errors = {};
  let done = false;
  const t0 = performance.now();

  const check = () => {
    if (done || opened + Object.values(errors).reduce((a, b) => a + b, 0) < opts.hold) return;
    done = true;
    emit({
      event: "held",
      held: socks.size,
      errors: Object.values(errors).reduce((a, b) => a + b, 0),
      error_kinds: errors,
      seconds: Math.round(performance.now() - t0) / 1000,
    });
  };

  const open = () => {
    if (started >= opts.hold) return;
    started++;
    const sock = connect({ host: opts.host, port: opts.ports[started % opts.ports.length], noDelay: true });
    let connected = false;
    sock.on("connect", () => {
      connected = true;
      socks.add(sock);
      sock.write(HEADER, () => {
        opened++;
        check();
        open();
      });
    });
    sock.on("data", (chunk) => {
      // An idle session gets nothing; a FAILURE means the proxy did not hold it.
      if (chunk[0] === 0x46) errors.FAILURE = (errors.FAILURE ?? 0) + 1;
    });
    sock.on("error", (err) => {
      if (!connected) {
        errors[err.code ?? "error"] = (errors[err.code ?? "error"] ?? 0) + 1;
        check();
        open();
      }
    });
    sock.on("close", () => socks.delete(sock));
  };

  const release = () => {
    for (const s of socks) s.destroy();
    emit({ event: "released" });
    process.exit(0);
  };

  for (let i = 0; i < Math.min(opts.concurrency, opts.hold); i++) open();
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "release") release();
    else if (cmd === "stats") emit({ event: "stats", open: socks.size, opened, errors });
  });
  rl.on("close", release);
}

if (opts.hold > 0) runHold();
else runLoad();
