/**
 * A tiny FastAGI server for `trunkline demo` and `trunkline run --demo`: reads the header,
 * sends a few commands one at a time, each after the previous reply, then closes, so a
 * newcomer can watch a whole session go through the proxy.
 */
import net from "node:net";
import { errorMessage } from "../../core/errors.ts";
import { type Log, silentLog } from "../../core/types.ts";
import { HeaderReader, headerVar, parseHeader } from "./header.ts";

/** The whole header must arrive within this (the proxy's own bound is the same). */
const HEADER_TIMEOUT_MS = 5_000;
/** A reply from Asterisk that takes longer than this means the peer is gone. */
const REPLY_TIMEOUT_MS = 10_000;
/** After our close, how long the peer may take to send its final HANGUP and close. */
const LINGER_MS = 2_000;
/** Asterisk's replies are short; anything this long without a newline is not AGI. */
const MAX_LINE = 8 * 1024;

export interface DemoServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The demo script; the VERBOSE text is quoted, so quotes and backslashes are dropped from it. */
export function demoCommands(request: string): string[] {
  const shown = request.replace(/["\\]/g, "");
  return [
    `VERBOSE "Trunkline demo: ${shown}" 1`,
    "SET VARIABLE TRUNKLINE_DEMO ok",
    "GET VARIABLE CALLERID(num)",
    'STREAM FILE demo-congrats ""',
  ];
}

export async function startDemoServer(opts: { host: string; port: number; log?: Log }): Promise<DemoServer> {
  const log = opts.log ?? silentLog;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    serve(sock, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err: errorMessage(err) }, "demo server error"));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(sock: net.Socket, log: Log): void {
  const client = `${sock.remoteAddress}:${sock.remotePort}`;
  const started = Date.now();
  const header = new HeaderReader();
  let headerDone = false;
  let partial: Buffer = Buffer.alloc(0);
  const lines: string[] = [];
  let hungUp = false;
  let gone = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  sock.setNoDelay(true);
  sock.setTimeout(HEADER_TIMEOUT_MS, () => {
    log.warn({ client, stage: headerDone ? "reply" : "header" }, "demo: peer too slow, closing");
    sock.destroy();
  });
  sock.on("error", (err) => {
    log.debug({ client, err: errorMessage(err) }, "demo: socket error");
    sock.destroy();
  });
  sock.on("close", () => {
    gone = true;
    notify();
  });
  sock.on("end", () => {
    gone = true;
    notify();
  });

  let startScript: ((request: string) => void) | undefined;
  sock.on("data", (chunk: Buffer) => {
    let body = chunk;
    if (!headerDone) {
      const r = header.push(chunk);
      if (!r.done) {
        if ("error" in r) {
          log.warn({ client, err: r.error.message }, "demo: bad header");
          sock.destroy();
        }
        return;
      }
      const parsed = parseHeader(r.header);
      if ("code" in parsed) {
        log.warn({ client, err: parsed.message }, "demo: bad header");
        sock.destroy();
        return;
      }
      headerDone = true;
      sock.setTimeout(REPLY_TIMEOUT_MS);
      startScript?.(headerVar(parsed, "agi_request") ?? "");
      body = r.rest;
    }
    const data = partial.length === 0 ? body : Buffer.concat([partial, body]);
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl;
      const line = data.toString("utf8", start, end);
      start = nl + 1;
      // Asterisk's unprompted HANGUP is not a reply: note it, keep waiting for the reply.
      if (line === "HANGUP") hungUp = true;
      else if (line !== "") lines.push(line);
    }
    partial = data.subarray(start);
    if (partial.length > MAX_LINE) {
      log.warn({ client }, "demo: reply line too long");
      sock.destroy();
      return;
    }
    notify();
  });

  const nextLine = async (): Promise<string | undefined> => {
    while (lines.length === 0) {
      if (gone || sock.destroyed) return undefined;
      await new Promise<void>((r) => {
        wake = r;
      });
    }
    return lines.shift();
  };
  /** One reply: a line, or a `520-` block through its closing `520 ` line. */
  const readReply = async (): Promise<string | undefined> => {
    const first = await nextLine();
    const multi = first === undefined ? null : /^(\d{3})-/.exec(first);
    if (!multi) return first;
    for (;;) {
      const l = await nextLine();
      if (l === undefined) return undefined;
      if (l.startsWith(`${multi[1]} `)) return first;
    }
  };

  startScript = (request) => {
    const run = async () => {
      let sent = 0;
      for (const cmd of demoCommands(request)) {
        if (hungUp || gone || sock.destroyed) break;
        sock.write(`${cmd}\n`);
        sent++;
        if ((await readReply()) === undefined) break;
      }
      log.info(
        { client, request, commands: sent, hung_up: hungUp, duration_ms: Date.now() - started },
        "demo session",
      );
      sock.end();
      setTimeout(() => sock.destroy(), LINGER_MS).unref();
    };
    run().catch((err: unknown) => {
      log.error({ client, err: errorMessage(err) }, "demo: session failed");
      sock.destroy();
    });
  };
}
