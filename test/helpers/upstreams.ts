/**
 * FastAGI servers for tests: a scripted one we control byte by byte, and two that nobody
 * here wrote (the `ding-dong` npm package, Debian's libasterisk-agi-perl), so the proxy is
 * proven against real implementations and not only against our own reading of the protocol.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import net from "node:net";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { LineReader } from "./asterisk.ts";
import { freePort } from "./ports.ts";

export { freePort };

const HEADER_MAX = 64 * 1024;
const WAIT_MS = 5000;

export interface AgiServerOptions {
  /** Sent one by one, each after the previous reply; default three short commands. */
  commands?: string[];
  host?: string;
  tls?: tls.TlsOptions;
  /** Write each command in pieces of `size` bytes, `delayMs` apart. */
  fragmentCommands?: { size: number; delayMs: number };
  /** Wait this long after the header before the first command. */
  holdOpenMs?: number;
  /** With holdOpenMs: the wait ends sooner, when this settles (the test says when). */
  release?: Promise<unknown>;
  /** Read the header, then close without sending a word. */
  silentClose?: boolean;
  /** After the commands, keep the socket open until the peer or close() ends it. */
  neverClose?: boolean;
  onHeader?: (raw: Buffer) => void;
}

export interface AgiServerStats {
  /** Connections accepted. */
  sessions: number;
  /** Connections open now. */
  active: number;
  maxActive: number;
  /** Each session's header bytes up to and including the empty line, in order of arrival. */
  headers: Buffer[];
  /** Per session (same index as headers): every line received after the header, HANGUPs included. */
  repliesSeen: string[][];
  /** Every line received from a first HANGUP on (that HANGUP included), all sessions. */
  afterHangup: string[];
}

export interface AgiServer {
  port: number;
  host: string;
  stats: AgiServerStats;
  /** Resolves once no session is open (all bytes received are in stats); rejects after timeoutMs. */
  waitIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_COMMANDS: readonly string[] = [
  'VERBOSE "hi" 1',
  "SET VARIABLE FOO bar",
  "GET VARIABLE FOO",
];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Where the header ends: the byte after its empty line (`\n\n` or `\n\r\n`), or -1. */
function headerEnd(buf: Buffer): number {
  const a = buf.indexOf("\n\n");
  const b = buf.indexOf("\n\r\n");
  if (a < 0) return b < 0 ? -1 : b + 3;
  if (b < 0 || a < b) return a + 2;
  return b + 3;
}

export async function startAgiServer(opts: AgiServerOptions = {}): Promise<AgiServer> {
  const host = opts.host ?? "127.0.0.1";
  const commands = opts.commands ?? [...DEFAULT_COMMANDS];
  const stats: AgiServerStats = {
    sessions: 0,
    active: 0,
    maxActive: 0,
    headers: [],
    repliesSeen: [],
    afterHangup: [],
  };
  const sockets = new Set<net.Socket>();

  const handle = (sock: net.Socket) => {
    sockets.add(sock);
    stats.sessions++;
    stats.active++;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    sock.setNoDelay(true);
    if (!opts.neverClose) sock.setTimeout(10_000, () => sock.destroy());
    sock.on("error", () => sock.destroy());

    let headerChunks: Buffer[] | undefined = [];
    const lines = new LineReader();
    const queue: string[] = [];
    let replies: string[] = [];
    let sawHangup = false;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    sock.on("data", (chunk: Buffer) => {
      let body = chunk;
      if (headerChunks) {
        headerChunks.push(chunk);
        const all = Buffer.concat(headerChunks);
        const end = headerEnd(all);
        if (end < 0) {
          if (all.length > HEADER_MAX) sock.destroy();
          return;
        }
        headerChunks = undefined;
        const raw = all.subarray(0, end);
        replies = [];
        stats.headers.push(raw);
        stats.repliesSeen.push(replies);
        opts.onHeader?.(raw);
        // Bytes after the empty line in the same read (an early HANGUP) are part of the stream.
        body = all.subarray(end);
        notify();
      }
      for (const line of lines.push(body)) {
        replies.push(line);
        if (line === "HANGUP") sawHangup = true;
        if (sawHangup) stats.afterHangup.push(line);
        queue.push(line);
      }
      notify();
    });
    const onGone = () => {
      ended = true;
      notify();
    };
    sock.on("end", onGone);
    sock.on("close", () => {
      onGone();
      sockets.delete(sock);
      stats.active--;
    });

    /** Waits for `cond`, bounded; false when the peer went away or the wait timed out. */
    const waitFor = async (cond: () => boolean): Promise<boolean> => {
      const until = Date.now() + WAIT_MS;
      while (!cond()) {
        if (ended || sock.destroyed) return false;
        const left = until - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
      return true;
    };
    const nextLine = async (): Promise<string | undefined> =>
      (await waitFor(() => queue.length > 0)) ? queue.shift() : undefined;

    /** One reply: a single line, or a `NNN-` block up to its `NNN ` line. Unprompted HANGUPs are skipped. */
    const readReply = async (): Promise<boolean> => {
      let line = await nextLine();
      while (line === "HANGUP") line = await nextLine();
      if (line === undefined) return false;
      const multi = /^(\d{3})-/.exec(line);
      if (!multi) return true;
      for (;;) {
        const l = await nextLine();
        if (l === undefined) return false;
        if (l.startsWith(`${multi[1]} `) || l === multi[1]) return true;
      }
    };

    const write = async (data: string) => {
      const buf = Buffer.from(data, "utf8");
      const f = opts.fragmentCommands;
      if (!f || f.size <= 0) {
        sock.write(buf);
        return;
      }
      for (let i = 0; i < buf.length; i += f.size) {
        if (i > 0) await sleep(f.delayMs);
        if (sock.destroyed) return;
        sock.write(buf.subarray(i, i + f.size));
      }
    };

    const script = async () => {
      if (!(await waitFor(() => headerChunks === undefined))) return;
      if (opts.holdOpenMs) {
        const until = Date.now() + opts.holdOpenMs;
        let released = false;
        opts.release?.then(
          () => (released = true),
          () => (released = true),
        );
        while (Date.now() < until && !released && !ended && !sock.destroyed)
          await sleep(Math.min(20, until - Date.now()));
      }
      if (opts.silentClose) {
        sock.end();
        return;
      }
      for (const cmd of commands) {
        if (ended || sock.destroyed) return;
        await write(`${cmd}\n`);
        if (!(await readReply())) break;
      }
      if (!opts.neverClose) sock.end();
    };
    script().catch(() => sock.destroy());
  };

  const server = opts.tls ? tls.createServer(opts.tls, handle) : net.createServer(handle);
  // A failed TLS handshake is the client's problem; it must not crash the test process.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    host,
    stats,
    waitIdle: async (timeoutMs = 2000) => {
      const until = Date.now() + timeoutMs;
      while (stats.active > 0) {
        if (Date.now() > until) throw new Error(`${stats.active} session(s) still open after ${timeoutMs}ms`);
        await sleep(5);
      }
    },
    close: () => closeServer(server, sockets),
  };
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface DingDongResponse {
  code: number;
  result: string;
  value?: string;
}
interface DingDongContext {
  on(event: "error" | "close", fn: (...a: unknown[]) => void): void;
  onEvent(event: "variables"): Promise<Record<string, string>>;
  verbose(message: string, level: number): Promise<DingDongResponse>;
  getVariable(name: string): Promise<DingDongResponse>;
  setVariable(name: string, value: string): Promise<DingDongResponse>;
  end(): Promise<void>;
}
type DingDongFactory = (
  handler: (ctx: DingDongContext) => void,
  opts?: { port?: number; host?: string },
) => { start(port: number, host: string): net.Server };

export interface DingDongServer {
  port: number;
  host: string;
  /** The variables ding-dong parsed from each header, and the reply each GET VARIABLE got. */
  stats: { sessions: number; variables: Record<string, string>[]; gotValues: (string | undefined)[] };
  close(): Promise<void>;
}

/**
 * A real ding-dong FastAGI server running a small script: VERBOSE with the script name it
 * parsed, GET VARIABLE CALLERID(num), SET VARIABLE DINGDONG_GOT to the value it got, end.
 */
export async function startDingDong(opts: { host?: string } = {}): Promise<DingDongServer> {
  const host = opts.host ?? "127.0.0.1";
  const require = createRequire(import.meta.url);
  const agi = require("ding-dong") as DingDongFactory;
  const stats: DingDongServer["stats"] = { sessions: 0, variables: [], gotValues: [] };
  const handler = (ctx: DingDongContext) => {
    stats.sessions++;
    ctx.on("error", () => {});
    const run = async () => {
      const vars = await ctx.onEvent("variables");
      stats.variables.push(vars);
      await ctx.verbose(`ding-dong ${vars.agi_network_script ?? ""}`, 1);
      const got = await ctx.getVariable("CALLERID(num)");
      stats.gotValues.push(got.value);
      await ctx.setVariable("DINGDONG_GOT", got.value ?? "");
      await ctx.end();
    };
    run().catch(() => {});
  };
  // ding-dong treats port 0 as "use 3000", so it needs a port picked for it; retry on a race.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(host);
    const server = agi(handler).start(port, host);
    const sockets = new Set<net.Socket>();
    server.on("connection", (s: net.Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    const ok = await new Promise<boolean>((resolve) => {
      server.once("listening", () => resolve(true));
      server.once("error", () => resolve(false));
    });
    if (ok) return { port, host, stats, close: () => closeServer(server, sockets) };
    server.close();
    if (attempt >= 4) throw new Error("ding-dong could not listen");
  }
}

export interface PerlAgiServer {
  port: number;
  host: string;
  /** What the Perl server wrote to stderr (one line per session it served). */
  stderr(): string;
  close(): Promise<void>;
}

const PERL_SCRIPT = fileURLToPath(new URL("../fixtures/perl/fastagi.pl", import.meta.url));

/**
 * Debian's Asterisk::AGI (libasterisk-agi-perl) behind a forking IO::Socket::INET server:
 * test/fixtures/perl/fastagi.pl. It listens on a port the kernel picks and prints it.
 */
export async function startPerlAgi(): Promise<PerlAgiServer> {
  const child: ChildProcess = spawn("perl", [PERL_SCRIPT, "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so close() also ends the forked session children.
    detached: true,
  });
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    err += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      kill(child);
      reject(new Error(`perl FastAGI server did not start within ${WAIT_MS}ms: ${err}`));
    }, WAIT_MS);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`perl FastAGI server exited (${code}): ${err}`));
    });
  });
  return {
    port,
    host: "127.0.0.1",
    stderr: () => err,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      kill(child);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    },
  };
}

function kill(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
}

/** A server that takes every connection and never writes a byte (FastAGI or HTTP alike). */
export interface SilentServer {
  readonly port: number;
  /** Its connections open now. */
  open(): number;
  /** Everything it read, over all its connections (latin1). */
  read(): string;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const held = new Set<net.Socket>();
  let read = "";
  const server = net.createServer((s) => {
    held.add(s);
    s.on("error", () => {});
    s.on("close", () => held.delete(s));
    s.on("data", (d: Buffer) => {
      read += d.toString("latin1");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    open: () => held.size,
    read: () => read,
    close: () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  };
}
