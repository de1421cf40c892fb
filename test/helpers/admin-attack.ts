// A proxy with its admin API on loopback for the admin attack tests, and a raw HTTP/1.1
// client that writes exactly the bytes a browser, a rebinding page or an attacker would.
// Every wait is bounded (RawClient's own timeouts); everything is closed after the test.
import type { TestContext } from "node:test";
import { startProxy, type TestProxy } from "./proxy.ts";
import { RawClient, type RawResponse } from "./raw-http.ts";

export const ATTACK_TOKEN = "attack-token-0123456789-abcdefgh";

/** Two servers nobody dials (no health checks): the operator's state is all that changes. */
export const SERVER_A = "127.0.0.1:9";
export const SERVER_B = "127.0.0.1:13";

export function adminConfig(tokenFile?: string, extra = ""): string {
  return `
admin: { listen: 127.0.0.1:0${tokenFile === undefined ? "" : `, token_file: ${tokenFile}`} }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: ${SERVER_A} }, { address: ${SERVER_B} } ] } }
${extra}`;
}

export interface AdminTarget {
  readonly p: TestProxy;
  readonly port: number;
  /** One request on a fresh connection, its final answer. */
  send(req: string | Buffer, method?: string, ms?: number): Promise<RawResponse>;
  /** A fresh raw connection to the admin port. */
  open(): Promise<RawClient>;
  /** The operator's view of one server, read from the runtime (not over HTTP). */
  server(address?: string): { admin: string; weight: number; operatorWeight: number | undefined };
  generation(): number;
}

/** A proxy with the admin API on 127.0.0.1:0; a token file when `token` is given. */
export async function adminTarget(
  t: TestContext,
  opts: { token?: string; files?: Record<string, string> } = {},
): Promise<AdminTarget> {
  const files: Record<string, string> = { ...(opts.files ?? {}) };
  if (opts.token !== undefined) files["admin.token"] = `${opts.token}\n`;
  const p = await startProxy(adminConfig(opts.token === undefined ? undefined : "admin.token"), { files });
  t.after(() => p.close());
  const a = p.proxy.adminAddress;
  if (!a) throw new Error("no admin API");
  const port = a.port;
  const open = () => RawClient.open(t, port);
  return {
    p,
    port,
    open,
    async send(req, method = "GET", ms = 5_000) {
      const c = await open();
      try {
        return await c.request(typeof req === "string" ? req : req.toString("latin1"), method, ms);
      } finally {
        c.sock.destroy();
      }
    },
    server(address = SERVER_A) {
      const m = p.proxy.runtime.generation.pools.get("main")!.servers.find((s) => s.key === address)!;
      return { admin: m.server.admin, weight: m.weight, operatorWeight: m.server.operator.weight };
    },
    generation() {
      return p.proxy.runtime.generation.number;
    },
  };
}

/** A request as bytes: method, target, header lines (Host first), body with its Content-Length. */
export function req(
  method: string,
  target: string,
  headers: [string, string][],
  body?: string,
  version = "HTTP/1.1",
): string {
  const lines = headers.map(([n, v]) => `${n}: ${v}\r\n`).join("");
  const cl = body === undefined ? "" : `Content-Length: ${Buffer.byteLength(body, "latin1")}\r\n`;
  return `${method} ${target} ${version}\r\n${lines}${cl}Connection: close\r\n\r\n${body ?? ""}`;
}

/** What a browser adds to a cross-site "simple" request from a page on http://evil.example. */
export const CROSS_SITE: [string, string][] = [
  ["Origin", "http://evil.example"],
  ["Referer", "http://evil.example/"],
  ["Sec-Fetch-Site", "cross-site"],
  ["Sec-Fetch-Mode", "no-cors"],
  ["Sec-Fetch-Dest", "empty"],
  ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"],
];

export function json(r: RawResponse): Record<string, unknown> {
  try {
    return JSON.parse(r.body.toString("utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}
