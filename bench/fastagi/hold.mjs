// Hold mode of loadgen.mjs (`--hold N`): opens N sessions, writes the header on each (in one
// write: only the memory of the held session matters here) and keeps them open and silent.
// Prints {"event":"held",…} once all are open; on `release` on stdin (or stdin closing) it
// closes them all and prints {"event":"released"}; `stats` prints {"event":"stats",…}.
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

/** `opts` as parsed by loadgen.mjs; `emit` prints one JSON line on stdout. */
export function runHold(opts, HEADER, emit) {
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
