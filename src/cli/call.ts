/**
 * `trunkline call agi://host:port/path?query [--header name=value ...] [--timeout 30s]`:
 * plays Asterisk for one FastAGI session (as res_agi.c does; see test/helpers/asterisk.ts) so ops can test a live proxy
 * or server: sends an Asterisk 23 header, answers every command with `200 result=0`, and
 * ends as Asterisk does, with `HANGUP` after the server closed. Exit 0 for AGISTATUS=SUCCESS,
 * 1 for FAILURE (refused, no answer, a `FAILURE` line) or an error, 2 for bad usage.
 */
import net from "node:net";
import { parseHostPort } from "../core/address.ts";
import { parseDuration } from "../core/duration.ts";
import { errorMessage, TrunklineError } from "../core/errors.ts";
import { buildAsteriskHeader } from "../protocols/fastagi/asterisk-header.ts";
import { headerPairs, one, parseArgs, UsageError } from "./args.ts";

export const usage = "trunkline call agi://host:port/path?query [--header name=value ...] [--timeout 30s]";

/** res_agi.c MAX_AGI_CONNECT: how long Asterisk waits for its TCP connect. */
const CONNECT_TIMEOUT_MS = 2000;
const DEFAULT_PORT = 4573;
const MAX_LINE = 64 * 1024;
const REPLY = "200 result=0";

export interface CallIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: CallIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** Control bytes from a server are shown escaped, so a bad peer cannot mess up the terminal. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export async function main(argv: string[], io: CallIo = stdio): Promise<number> {
  let url: string;
  let header: Buffer;
  let timeoutMs: number;
  let target: { host: string; port: number };
  try {
    const args = parseArgs(argv, {
      options: ["header", "timeout"],
      flags: ["help"],
      aliases: { "-H": "header", "-h": "help" },
    });
    if (args.flags.has("help")) {
      io.out(`usage: ${usage}`);
      return 0;
    }
    if (args.positionals.length !== 1) throw new UsageError("expected exactly one agi:// URL");
    url = args.positionals[0] as string;
    const m = /^agi:\/\/([^/?#]*)/i.exec(url);
    if (!m) throw new UsageError(`"${url}" is not an agi://host:port/path URL`);
    const hp = parseHostPort(m[1] as string, DEFAULT_PORT);
    if (typeof hp === "string") throw new UsageError(`${url}: ${hp}`);
    target = hp;
    const timeout = parseDuration(one(args, "timeout") ?? "30s");
    if (timeout === undefined || timeout <= 0)
      throw new UsageError(`--timeout: "${one(args, "timeout")}" is not a duration`);
    timeoutMs = timeout;
    header = buildAsteriskHeader({ url, vars: headerPairs(args.options.get("header")) });
  } catch (err) {
    if (err instanceof UsageError || err instanceof TrunklineError) {
      io.err(`trunkline call: ${err.message}`);
      io.err(`usage: ${usage}`);
      return 2;
    }
    throw err;
  }
  return run(target, url, header, timeoutMs, io);
}

function run(
  target: { host: string; port: number },
  url: string,
  header: Buffer,
  timeoutMs: number,
  io: CallIo,
): Promise<number> {
  const where = target.host.includes(":")
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
  return new Promise((resolve) => {
    let connected = false;
    let done = false;
    let hangupSent = false;
    /** How the session ends, once decided; a later close or reset does not change it. */
    let ending: { code: number; message: string } | undefined;
    let partial: Buffer = Buffer.alloc(0);
    // allowHalfOpen: Asterisk writes its final HANGUP after the server has closed its side.
    const sock = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    sock.setNoDelay(true);

    const finish = (code: number, message?: string) => {
      if (done) return;
      done = true;
      clearTimeout(overall);
      clearTimeout(connectTimer);
      if (message !== undefined) (code === 0 ? io.out : io.err)(message);
      sock.destroy();
      resolve(code);
    };
    const overall = setTimeout(
      () => finish(1, `-- no end of session within ${timeoutMs} ms; giving up`),
      timeoutMs,
    );
    const connectTimer = setTimeout(() => {
      if (!connected)
        finish(1, `-- no answer from ${where} within ${CONNECT_TIMEOUT_MS} ms; AGISTATUS=FAILURE`);
    }, CONNECT_TIMEOUT_MS);

    /** As Asterisk when the AGI ends (res_agi.c run_agi(), send_sighup): HANGUP, then close. */
    const hangupAndEnd = (code: number, message: string) => {
      if (ending) return;
      ending = { code, message };
      if (!hangupSent && sock.writable) {
        hangupSent = true;
        io.out(">> HANGUP");
        sock.write("HANGUP\n");
      }
      sock.end(() => finish(code, message));
      // A server that already vanished cannot acknowledge; do not wait on it.
      setTimeout(() => finish(code, message), 500).unref();
    };

    sock.once("connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      const lines = header.toString("utf8").split("\n").length - 2;
      io.out(`-- connected to ${where}; sent the header (${lines} variables, agi_request: ${url})`);
      sock.write(header);
    });

    sock.on("data", (chunk: Buffer) => {
      if (done) return;
      const data = partial.length === 0 ? chunk : Buffer.concat([partial, chunk]);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
        const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl;
        const line = data.toString("utf8", start, end);
        start = nl + 1;
        if (line === "") continue;
        io.out(`<< ${printable(line)}`);
        // res_agi.c: a line starting with "failure" (any case) ends the AGI with FAILURE.
        if (/^failure/i.test(line)) {
          hangupAndEnd(1, "-- the server answered FAILURE; AGISTATUS=FAILURE");
          return;
        }
        io.out(`>> ${REPLY}`);
        sock.write(`${REPLY}\n`);
      }
      partial = data.subarray(start);
      if (partial.length > MAX_LINE)
        finish(1, `-- the server sent a line longer than ${MAX_LINE} bytes; giving up`);
    });

    sock.on("end", () => {
      if (partial.length > 0) io.out(`<< ${printable(partial.toString("utf8"))} (no newline)`);
      hangupAndEnd(0, "-- the server closed the session; AGISTATUS=SUCCESS");
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (done) return;
      if (!connected) {
        const why = err.code === "ECONNREFUSED" ? "connection refused" : errorMessage(err);
        finish(1, `-- cannot connect to ${where}: ${why}; AGISTATUS=FAILURE`);
      } else if (ending) {
        // Writing the final HANGUP to a server that is gone: the session had already ended.
        finish(ending.code, ending.message);
      } else {
        finish(1, `-- connection error: ${errorMessage(err)}`);
      }
    });
    sock.on("close", () => finish(ending?.code ?? 1, ending?.message ?? "-- connection closed"));
  });
}
