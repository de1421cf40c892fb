// Hand-written peers for the sip-attack-* tests: UDP sockets on any loopback address that
// record every datagram (callers, FreeSWITCH stand-ins, victims that should hear nothing),
// a TCP listener that counts who connects to it, and SIP messages built by hand.
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import { headerLines } from "./sip-proxy.ts";

export interface Datagram {
  readonly text: string;
  readonly bytes: number;
  readonly from: { readonly address: string; readonly port: number };
  readonly at: number;
}

export interface UdpPeer {
  readonly sock: Socket;
  readonly host: string;
  readonly port: number;
  readonly got: Datagram[];
  send(text: string | Buffer, port: number, host?: string): void;
  /** Bytes received in all. */
  bytesIn(): number;
  /** First lines of what it got (`SIP/2.0 100 Trying`, `INVITE sip:...`). */
  starts(): string[];
}

type After = { after(fn: () => unknown): void };

/**
 * A UDP socket bound to `host` (default 127.0.0.1) and `port` (default 0), closed after the
 * test; `answer` sees every datagram and may reply.
 */
export async function udpPeer(
  t: After,
  opts: { host?: string; port?: number; answer?: (d: Datagram, p: UdpPeer) => void } = {},
): Promise<UdpPeer> {
  const host = opts.host ?? "127.0.0.1";
  const sock = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(opts.port ?? 0, host, () => {
      sock.off("error", reject);
      resolve();
    });
  });
  sock.on("error", () => {});
  const got: Datagram[] = [];
  const p: UdpPeer = {
    sock,
    host,
    port: sock.address().port,
    got,
    send(text, port, to = "127.0.0.1") {
      sock.send(typeof text === "string" ? Buffer.from(text, "latin1") : text, port, to);
    },
    bytesIn: () => got.reduce((a, d) => a + d.bytes, 0),
    starts: () => got.map((d) => d.text.split("\r\n")[0] ?? ""),
  };
  sock.on("message", (m, rinfo) => {
    const d: Datagram = {
      text: m.toString("latin1"),
      bytes: m.length,
      from: { address: rinfo.address, port: rinfo.port },
      at: Date.now(),
    };
    got.push(d);
    opts.answer?.(d, p);
  });
  t.after(() => {
    try {
      sock.close();
    } catch {
      // already closed
    }
  });
  return p;
}

export interface TcpVictim {
  readonly port: number;
  readonly host: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Everything read from every connection, as latin1. */
  text(): string;
}

/** A TCP listener that only counts and records: anyone connecting to it is a finding. */
export async function tcpVictim(t: After, host = "127.0.0.1"): Promise<TcpVictim> {
  let n = 0;
  let text = "";
  const sockets = new Set<TcpSocket>();
  const server: Server = createServer((s) => {
    n++;
    sockets.add(s);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port, host, connections: () => n, text: () => text };
}

export interface RequestSpec {
  readonly method: string;
  readonly uri: string;
  /** The top Via value, written as given. */
  readonly via: string;
  readonly callId: string;
  readonly cseq?: number;
  readonly fromTag?: string;
  readonly toTag?: string;
  readonly maxForwards?: string | undefined;
  readonly extra?: readonly string[];
  readonly body?: string;
}

/** A request as a caller writes it (CRLF line ends, Content-Length of the body). */
export function sipRequest(s: RequestSpec): string {
  const body = s.body ?? "";
  return [
    `${s.method} ${s.uri} SIP/2.0`,
    `Via: ${s.via}`,
    ...(s.maxForwards === undefined ? ["Max-Forwards: 70"] : [`Max-Forwards: ${s.maxForwards}`]),
    `From: <sip:alice@127.0.0.1>;tag=${s.fromTag ?? "a1"}`,
    `To: <sip:bob@example.com>${s.toTag ? `;tag=${s.toTag}` : ""}`,
    `Call-ID: ${s.callId}`,
    `CSeq: ${s.cseq ?? 1} ${s.method}`,
    "Contact: <sip:alice@127.0.0.1>",
    ...(s.extra ?? []),
    `Content-Length: ${Buffer.byteLength(body, "latin1")}`,
    "",
    body,
  ].join("\r\n");
}

/**
 * A server's response to the request `req` (as received): its Via lines, Record-Route, From,
 * Call-ID and CSeq echoed, the To given a tag, Contact the server.
 */
export function serverReply(req: string, status: string, extra: readonly string[] = []): string {
  const keep = ["Via", "Record-Route", "From", "Call-ID", "CSeq"];
  const to = headerLines(req, "To")[0] ?? "";
  return [
    `SIP/2.0 ${status}`,
    ...keep.flatMap((n) => headerLines(req, n).map((v) => `${n}: ${v}`)),
    `To: ${to}${to.includes("tag=") ? "" : ";tag=srv"}`,
    "Contact: <sip:fs@127.0.0.1>",
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** The method of a request's text, or `SIP/2.0` for a response. */
export function methodOf(text: string): string {
  return text.slice(0, text.indexOf(" "));
}

/** The status code of a response's text, or 0 for a request. */
export function statusOf(text: string): number {
  return text.startsWith("SIP/2.0 ") ? Number(text.slice(8, 11)) : 0;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms for at most `ms`; true if it held. Never throws: for "did it ever". */
export async function within(ms: number, cond: () => boolean): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}
