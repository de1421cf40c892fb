// Helpers for the obs-attack-* tests: a proxy whose logger is the real one (createLogger, as
// `trunkline run` builds it, syslog from the config included) writing into memory, raw
// FastAGI clients with hand-made headers, and syslog receivers over UDP and TCP.
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { TrunklineProxy } from "../../src/app/proxy.ts";
import type { Snapshot } from "../../src/config/types.ts";
import { createLogger } from "../../src/observe/logger.ts";

export interface LoggedProxy {
  readonly proxy: TrunklineProxy;
  /** Everything the logger wrote, as text. */
  out(): string;
  /** The current syslog sink's counters (queue length and bytes, drops). */
  syslogStats(): ReturnType<ReturnType<typeof createLogger>["syslogStats"]>;
  port(listener?: string): number;
  close(): Promise<void>;
}

/** Starts a proxy whose log lines (JSON, or pretty) are captured as the CLI would write them. */
export async function startLoggedProxy(yaml: string, opts: { pretty?: boolean } = {}): Promise<LoggedProxy> {
  const dir = mkdtempSync(join(tmpdir(), "obs-attack-"));
  const file = join(dir, "trunkline.yaml");
  writeFileSync(file, yaml);
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const settings = (s: Snapshot) => ({
    level: s.log.level,
    appName: "trunkline",
    destination: dest,
    pretty: opts.pretty ?? false,
    ...(s.log.syslog ? { syslog: { target: s.log.syslog, facility: s.log.syslogFacility } } : {}),
  });
  let logger: ReturnType<typeof createLogger> | undefined;
  const proxy = await TrunklineProxy.start({
    configFile: file,
    watch: false,
    logging: (s) => {
      const l = createLogger(settings(s));
      logger = l;
      return {
        log: l.log,
        record: l.record,
        reconfigure: (next) => l.reconfigure(settings(next)),
        close: () => l.close(),
        dropped: () => [
          { output: "stdout", lines: l.stdoutStats()?.dropped ?? 0 },
          { output: "syslog", lines: l.syslogDropped() },
        ],
      };
    },
  });
  let closed = false;
  return {
    proxy,
    out: () => chunks.join(""),
    syslogStats: () => logger?.syslogStats(),
    port(listener = "agi") {
      const a = proxy.runtime.listener(listener)?.address;
      if (!a) throw new Error(`no listener ${listener}`);
      return a.port;
    },
    async close() {
      if (closed) return;
      closed = true;
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A FastAGI header with these variables (agi_request first), ended by the empty line. */
export function agiHeader(vars: Record<string, string>): Buffer {
  const lines = Object.entries(vars).map(([k, v]) => `${k}: ${v}\n`);
  return Buffer.from(`${lines.join("")}\n`, "utf8");
}

/**
 * Sends a header (raw bytes), then reads until the proxy closes; resolves with what came
 * back. Bounded by `timeoutMs`: the socket is destroyed then.
 */
export function agiRaw(port: number, header: Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on("connect", () => s.write(header));
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("FAILURE")) s.end();
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** Waits until `cond()` holds, polling every 10 ms; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface UdpReceiver {
  readonly port: number;
  readonly datagrams: Buffer[];
  close(): Promise<void>;
}

export async function udpReceiver(): Promise<UdpReceiver> {
  const sock = createSocket("udp4");
  const datagrams: Buffer[] = [];
  sock.on("message", (m) => datagrams.push(m));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return {
    port: sock.address().port,
    datagrams,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

export interface TcpReceiver {
  readonly port: number;
  /** Every byte received, all connections in order of arrival. */
  bytes(): Buffer;
  connections(): number;
  close(): Promise<void>;
}

/** A TCP syslog server; `read: false` accepts and never reads (a stalled collector). */
export async function tcpReceiver(opts: { read?: boolean } = {}): Promise<TcpReceiver> {
  const parts: Buffer[] = [];
  const socks = new Set<Socket>();
  let conns = 0;
  const srv = createServer((s) => {
    conns++;
    socks.add(s);
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
    if (opts.read === false) s.pause();
    else s.on("data", (d: Buffer) => parts.push(d));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const addr = srv.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return {
    port: addr.port,
    bytes: () => Buffer.concat(parts),
    connections: () => conns,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

/**
 * Splits an RFC 6587 octet-counted stream (`LEN SP MSG`) into messages; throws on a frame
 * whose length is not digits followed by a space, and returns the bytes left over.
 */
export function octetFrames(buf: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = buf.toString("latin1", i, sp);
    if (!/^[1-9][0-9]{0,8}$/.test(len))
      throw new Error(`bad MSG-LEN ${JSON.stringify(len.slice(0, 40))} at byte ${i}`);
    const n = Number(len);
    if (sp + 1 + n > buf.length) break;
    frames.push(buf.subarray(sp + 1, sp + 1 + n));
    i = sp + 1 + n;
  }
  return { frames, rest: buf.subarray(i) };
}

/** RFC 5424 header: `<PRI>1 TS HOST APP PROCID MSGID SD ` and the MSG after it. */
export const RFC5424_HEAD = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) /s;

export function syslogMsg(frame: Buffer): { msgId: string; msg: string } | undefined {
  const text = frame.toString("utf8");
  const m = RFC5424_HEAD.exec(text);
  if (!m) return undefined;
  return { msgId: m[6] as string, msg: text.slice(m[0].length) };
}
