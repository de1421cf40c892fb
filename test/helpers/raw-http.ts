// Raw HTTP/1.x peers for the wire tests: a client on a bare socket that reads answers as
// bytes (1xx, framing, trailers and the connection's close all visible), and an origin on a
// bare net server that sees request heads as they were written and answers whatever bytes a
// test gives it. Every wait is bounded and driven by socket events, never by a sleep.
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { httpConfig, pool } from "./http-origin.ts";
import { startProxy, type TestProxy } from "./proxy.ts";

/** A header list as sent: [name, value] pairs in order. */
export type Fields = [string, string][];

export interface RawResponse {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  readonly fields: Fields;
  /** The head's text, its empty line included. */
  readonly head: string;
  /** The body as data (a chunked body decoded). */
  readonly body: Buffer;
  /** The body's bytes as they came on the wire. */
  readonly wire: Buffer;
  readonly chunked: boolean;
  readonly trailers: Fields;
  /** The value of a field (lower-case name; several joined with ", "), or undefined. */
  get(name: string): string | undefined;
}

function getter(fields: Fields): (name: string) => string | undefined {
  return (name) => {
    const vs = fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    return vs.length === 0 ? undefined : vs.join(", ");
  };
}

function parseFields(lines: string[]): Fields {
  return lines.map((l) => {
    const c = l.indexOf(":");
    if (c <= 0) throw new Error(`bad header line ${JSON.stringify(l)}`);
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
}

/** A chunked body at `at` of `buf`: its data, trailers and size, or undefined when not whole. */
export function decodeChunked(
  buf: Buffer,
  at: number,
): { data: Buffer; trailers: Fields; size: number } | undefined {
  const parts: Buffer[] = [];
  let i = at;
  for (;;) {
    const eol = buf.indexOf("\r\n", i, "latin1");
    if (eol < 0) return undefined;
    const line = buf.toString("latin1", i, eol);
    const m = /^([0-9a-fA-F]+)(;.*)?$/.exec(line);
    if (m === null) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
    const n = Number.parseInt(m[1] as string, 16);
    i = eol + 2;
    if (n === 0) break;
    if (buf.length < i + n + 2) return undefined;
    parts.push(buf.subarray(i, i + n));
    if (buf.toString("latin1", i + n, i + n + 2) !== "\r\n") throw new Error("no CRLF after chunk data");
    i += n + 2;
  }
  const lines: string[] = [];
  for (;;) {
    const eol = buf.indexOf("\r\n", i, "latin1");
    if (eol < 0) return undefined;
    const line = buf.toString("latin1", i, eol);
    i = eol + 2;
    if (line === "") break;
    lines.push(line);
  }
  return { data: Buffer.concat(parts), trailers: parseFields(lines), size: i - at };
}

/**
 * One response at the start of `buf` (RFC 9112 §6.3 framing), with its size, or undefined
 * when not whole yet. `eof`: the connection has ended (a close-delimited body is then whole).
 */
export function parseResponse(
  buf: Buffer,
  method: string,
  eof: boolean,
): { r: RawResponse; size: number } | undefined {
  const end = buf.indexOf("\r\n\r\n", 0, "latin1");
  if (end < 0) return undefined;
  const head = buf.toString("latin1", 0, end + 4);
  const lines = head.slice(0, -4).split("\r\n");
  const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0] as string);
  if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[2]);
  const fields = parseFields(lines.slice(1));
  const get = getter(fields);
  const at = end + 4;
  const make = (body: Buffer, wire: Buffer, chunked: boolean, trailers: Fields, size: number) => ({
    r: {
      version: m[1] as string,
      status,
      reason: m[3] as string,
      fields,
      head,
      body,
      wire,
      chunked,
      trailers,
      get,
    },
    size,
  });
  if (method === "HEAD" || status < 200 || status === 204 || status === 304)
    return make(Buffer.alloc(0), Buffer.alloc(0), false, [], at);
  const te = get("transfer-encoding");
  if (te !== undefined && /chunked\s*$/i.test(te)) {
    const d = decodeChunked(buf, at);
    if (d === undefined) return undefined;
    return make(d.data, buf.subarray(at, at + d.size), true, d.trailers, at + d.size);
  }
  const cl = get("content-length");
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < at + n) return undefined;
    const b = buf.subarray(at, at + n);
    return make(b, b, false, [], at + n);
  }
  if (!eof) return undefined;
  const b = buf.subarray(at);
  return make(b, b, false, [], buf.length);
}

/** Waits for `cond` to hold, re-checked on each call of the returned kick, bounded. */
class Waiters {
  #list: (() => void)[] = [];
  kick(): void {
    for (const w of this.#list.splice(0)) w();
  }
  /** `cond` may throw: the wait then fails with its error. */
  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    if (cond()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#list = this.#list.filter((w) => w !== check);
        reject(new Error(`${what} not seen within ${ms}ms`));
      }, ms);
      const check = () => {
        let ok: boolean;
        try {
          ok = cond();
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        if (ok) {
          clearTimeout(timer);
          resolve();
        } else this.#list.push(check);
      };
      this.#list.push(check);
    });
  }
}

/** A client on a bare socket: what it read, whether the proxy ended the connection. */
export class RawClient {
  readonly sock: Socket;
  /** Bytes read and not yet taken as a response. */
  buf = Buffer.alloc(0);
  /** Every byte read, in order. */
  all = Buffer.alloc(0);
  /** The proxy sent its FIN (or the socket closed). */
  ended = false;
  closed = false;
  readonly #w = new Waiters();

  constructor(sock: Socket) {
    this.sock = sock;
    sock.on("data", (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.all = Buffer.concat([this.all, c]);
      this.#w.kick();
    });
    sock.on("end", () => {
      this.ended = true;
      this.#w.kick();
    });
    sock.on("close", () => {
      this.ended = true;
      this.closed = true;
      this.#w.kick();
    });
    sock.on("error", () => {});
  }

  /** `allowHalfOpen`: the proxy's FIN does not end our side (we may go on writing). */
  static async open(t: TestContext, port: number, allowHalfOpen = false): Promise<RawClient> {
    const s = connect({ port, host: "127.0.0.1", allowHalfOpen });
    s.on("error", () => {});
    t.after(() => s.destroy());
    await within(once(s, "connect"), 5_000, "connect");
    return new RawClient(s);
  }

  write(data: string | Buffer): void {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  until(cond: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
    return this.#w.until(cond, ms, what);
  }

  /** The next response (a 1xx is one too), taken from what was read. */
  async response(method = "GET", ms = 5_000): Promise<RawResponse> {
    let got: { r: RawResponse; size: number } | undefined;
    await this.until(
      () => {
        got = parseResponse(this.buf, method, this.ended);
        if (got === undefined && this.ended && this.buf.length === 0)
          throw new Error("connection ended before a response");
        return got !== undefined;
      },
      ms,
      `a response to ${method}`,
    );
    const g = got as unknown as { r: RawResponse; size: number };
    this.buf = this.buf.subarray(g.size);
    return g.r;
  }

  /** The next final (non-1xx) response, and the 1xx ones before it. */
  async final(method = "GET", ms = 5_000): Promise<{ r: RawResponse; interim: RawResponse[] }> {
    const interim: RawResponse[] = [];
    for (;;) {
      const r = await this.response(method, ms);
      if (r.status >= 200) return { r, interim };
      interim.push(r);
    }
  }

  /** Waits until the proxy has ended the connection. */
  endedWithin(ms = 5_000): Promise<void> {
    return this.until(() => this.ended, ms, "the proxy closing the connection");
  }

  /** Sends a request and reads its final answer. */
  async request(req: string, method = "GET", ms = 5_000): Promise<RawResponse> {
    this.write(req);
    return (await this.final(method, ms)).r;
  }
}

/** Rejects when `p` has not settled within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request head as a raw origin read it. */
export interface SeenHead {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly fields: Fields;
  readonly head: string;
  /** Which origin connection (0-based) carried it, and its index on that connection. */
  readonly conn: number;
  readonly onConn: number;
  get(name: string): string | undefined;
}

/** One accepted connection of a raw origin. */
export interface OriginConn {
  readonly id: number;
  readonly sock: Socket;
  /** Request heads read on it so far. */
  requests: number;
  /** Body bytes read on it (Content-Length bodies, skipped). */
  bodyBytes: number;
  closed: boolean;
}

export interface RawOrigin {
  readonly port: number;
  readonly server: Server;
  readonly conns: OriginConn[];
  readonly seen: SeenHead[];
  until(cond: () => boolean, ms?: number, what?: string): Promise<void>;
}

/**
 * An origin on a bare net server: reads request heads (a Content-Length body is skipped,
 * counted, never awaited: `onHead` runs as soon as the head is whole) and lets the test
 * answer with whatever bytes it likes.
 */
export async function startRawOrigin(
  t: TestContext,
  onHead: (h: SeenHead, c: OriginConn) => void,
): Promise<RawOrigin> {
  const w = new Waiters();
  const conns: OriginConn[] = [];
  const seen: SeenHead[] = [];
  const server = createServer((sock) => {
    const c: OriginConn = { id: conns.length, sock, requests: 0, bodyBytes: 0, closed: false };
    conns.push(c);
    w.kick();
    let buf = Buffer.alloc(0);
    let skip = 0;
    sock.on("error", () => {});
    sock.on("close", () => {
      c.closed = true;
      w.kick();
    });
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          skip -= n;
          c.bodyBytes += n;
          buf = buf.subarray(n);
          w.kick();
          if (skip > 0) return;
        }
        const end = buf.indexOf("\r\n\r\n", 0, "latin1");
        if (end < 0) return;
        const head = buf.toString("latin1", 0, end + 4);
        buf = buf.subarray(end + 4);
        const lines = head.slice(0, -4).split("\r\n");
        const [method, target, version] = (lines[0] as string).split(" ") as [string, string, string];
        const fields = parseFields(lines.slice(1));
        const h: SeenHead = {
          method,
          target,
          version,
          fields,
          head,
          conn: c.id,
          onConn: c.requests,
          get: getter(fields),
        };
        c.requests++;
        seen.push(h);
        skip = Number(h.get("content-length") ?? 0);
        onHead(h, c);
        w.kick();
        if (sock.destroyed) return;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  if (a === null || typeof a !== "object") throw new Error("raw origin has no address");
  t.after(async () => {
    for (const c of conns) c.sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: a.port,
    server,
    conns,
    seen,
    until: (cond, ms = 5_000, what = "origin condition") => w.until(cond, ms, what),
  };
}

/** An answer with a Content-Length body, as a raw origin writes it. */
export function answer(status: number, reason: string, body = "", extra: string[] = []): string {
  return `HTTP/1.1 ${status} ${reason}\r\n${extra.map((l) => `${l}\r\n`).join("")}Content-Length: ${Buffer.byteLength(body, "latin1")}\r\n\r\n${body}`;
}

/** A proxy (startProxy) with one http listener `web` and the routes and pools given, closed after the test. */
export async function proxyWith(
  t: TestContext,
  routes: string,
  pools: string,
  extra = "",
): Promise<TestProxy> {
  const p = await startProxy(httpConfig(routes, pools, extra));
  t.after(() => p.close());
  return p;
}

/** A proxy whose one route sends everything to pool `a` of the origin on `port`. */
export function proxyTo(t: TestContext, port: number, extra = ""): Promise<TestProxy> {
  return proxyWith(t, "  - { listener: web, pool: a }", pool("a", [port]), extra);
}

export const GET = (path: string, more = "") => `GET ${path} HTTP/1.1\r\nHost: a\r\n${more}\r\n`;
/** A request that must never reach an origin (smuggled in a body or after a close). */
export const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

/** One connection of a tunnel origin: every byte it read, and where the first head ended. */
export interface TunnelConn {
  readonly sock: Socket;
  bytes: Buffer;
  headEnd: number;
  closed: boolean;
}

/** A raw origin for upgrades: keeps every byte, calls `onHead` once the first head is whole. */
export async function startTunnelOrigin(
  t: TestContext,
  onHead: (head: string, c: TunnelConn) => void,
): Promise<{ port: number; conns: TunnelConn[] }> {
  const conns: TunnelConn[] = [];
  const server = createServer((sock) => {
    const c: TunnelConn = { sock, bytes: Buffer.alloc(0), headEnd: -1, closed: false };
    conns.push(c);
    sock.on("error", () => {});
    sock.on("close", () => {
      c.closed = true;
    });
    sock.on("data", (d: Buffer) => {
      c.bytes = Buffer.concat([c.bytes, d]);
      if (c.headEnd >= 0) return;
      const end = c.bytes.indexOf("\r\n\r\n", 0, "latin1");
      if (end < 0) return;
      c.headEnd = end + 4;
      onHead(c.bytes.toString("latin1", 0, end + 4), c);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const c of conns) c.sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, conns };
}

export const UPGRADE = (path: string, host = "a") =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
export const SWITCHING =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

/** A server's active sessions as the proxy's registry counts them (a server gone from it: 0). */
export function active(p: TestProxy, port: number): number {
  return p.proxy.runtime.registry.get(`127.0.0.1:${port}`)?.active ?? 0;
}

/** A client that sends `data` and then reads nothing until told to (its socket stays paused). */
export async function silentClient(t: TestContext, port: number, data: string): Promise<Socket> {
  const s = connect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  t.after(() => s.destroy());
  await within(once(s, "connect"), 5_000, "connect");
  s.pause();
  s.write(data, "latin1");
  return s;
}

/** Bytes a server's socket has handed to the kernel (written, less what still waits in Node). */
export const pushed = (s: Socket) => s.bytesWritten - s.writableLength;

/**
 * A raw origin that keeps every byte each connection sent (TunnelConn) and writes `reply`
 * whenever `whole(bytes since the last reply, the first head left out)` holds: a chunked
 * request body is seen as framed on the wire.
 */
export async function startBodyOrigin(
  t: TestContext,
  whole: (body: Buffer) => boolean,
  reply: string,
): Promise<{
  port: number;
  conns: TunnelConn[];
  until(cond: () => boolean, ms: number, what: string): Promise<void>;
}> {
  const w = new Waiters();
  const conns: TunnelConn[] = [];
  const server = createServer((sock) => {
    const c: TunnelConn = { sock, bytes: Buffer.alloc(0), headEnd: -1, closed: false };
    conns.push(c);
    let from = -1;
    sock.on("error", () => {});
    sock.on("close", () => {
      c.closed = true;
      w.kick();
    });
    sock.on("data", (d: Buffer) => {
      c.bytes = Buffer.concat([c.bytes, d]);
      if (c.headEnd < 0) {
        const end = c.bytes.indexOf("\r\n\r\n", 0, "latin1");
        if (end >= 0) from = c.headEnd = end + 4;
      }
      if (from >= 0 && whole(c.bytes.subarray(from))) {
        from = c.bytes.length;
        sock.write(reply, "latin1");
      }
      w.kick();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const c of conns) c.sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as { port: number }).port,
    conns,
    until: (cond, ms, what) => w.until(cond, ms, what),
  };
}
