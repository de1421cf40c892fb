// Origin servers for the http-* tests: node:http servers on 127.0.0.1:0 that say who they
// are, echo what they received, and count connections and requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { TestContext } from "node:test";

export { deadPort } from "./ports.ts";

export interface Origin {
  readonly name: string;
  readonly port: number;
  readonly server: Server;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests seen so far (counted when their head arrived). */
  requests: number;
  /** Request heads seen, in order: method, url, raw headers. */
  readonly seen: { method: string; url: string; headers: IncomingMessage["headers"]; raw: string[] }[];
  readonly sockets: Set<Socket>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, o: Origin) => void;

/** Answers 200 "METHOD url [body]" with a Content-Length, once the whole body is read. */
export const sayBack: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const text = `${req.method} ${req.url} [${Buffer.concat(chunks).toString()}]`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(Buffer.byteLength(text)) });
    res.end(text);
  });
};

/** Answers 200 with a JSON echo of the request head and the origin's name. */
export const echo: Handler = (req, res, o) => {
  req.resume();
  req.on("end", () => {
    const body = JSON.stringify({ origin: o.name, method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { "content-type": "application/json", "x-origin": o.name });
    res.end(body);
  });
};

export async function startOrigin(t: TestContext, name: string, handler: Handler = echo): Promise<Origin> {
  const sockets = new Set<Socket>();
  const o: Origin = {
    name,
    port: 0,
    server: undefined as unknown as Server,
    connections: 0,
    requests: 0,
    seen: [],
    sockets,
  };
  const server = createServer((req, res) => {
    o.requests++;
    o.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, raw: req.rawHeaders });
    handler(req, res, o);
  });
  server.on("connection", (s: Socket) => {
    o.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  if (a === null || typeof a !== "object") throw new Error("origin has no address");
  Object.assign(o, { port: a.port, server });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return o;
}

export interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

/** One request to the proxy on a fresh connection (agent: false), the whole answer read. */
export async function get(
  port: number,
  path: string,
  opts: {
    host?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
  } = {},
): Promise<Reply> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      method: opts.method ?? "GET",
      agent: false,
      headers: { ...(opts.host !== undefined ? { host: opts.host } : {}), ...opts.headers },
      timeout: opts.timeoutMs ?? 10_000,
    });
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.end(opts.body);
  });
}

/** A YAML config: one http listener on 127.0.0.1:0 named web, the routes and pools given. */
export function httpConfig(routes: string, pools: string, listenerExtra = ""): string {
  return `
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:0${listenerExtra} }
routes:
${routes}
pools:
${pools}
`;
}

export function pool(name: string, ports: readonly number[], extra = ""): string {
  return `  ${name}:
    balance: round-robin
${extra}    servers:
${ports.map((p) => `      - { address: 127.0.0.1:${p} }`).join("\n")}
`;
}

/** Reads the request head (and body), then resets the connection without a byte of answer. */
export const resetAfterRequest: Handler = (req) => {
  req.resume();
  req.on("end", () => req.socket.resetAndDestroy());
};

/**
 * Writes a `total`-byte body (64 KiB of "a" at a time) as fast as `req` takes it, then ends
 * it; `onSent` sees the running count after each piece is counted, before it is written.
 */
export function writeBody(req: Writable, total: number, onSent?: (sent: number) => void): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += chunk.length;
      onSent?.(sent);
      if (!req.write(chunk)) {
        req.once("drain", pump);
        return;
      }
    }
    req.end();
  };
  pump();
}
