/**
 * Hostile peers for the peer-attack-* tests: a raw TCP peer that runs a script per
 * connection and counts connections, an ESL handshake helper, and a proxy with its admin
 * API so that the tests look where an operator looks.
 */
import { createServer, type Server, type Socket } from "node:net";
import { after } from "node:test";
import { eslFrame } from "./freeswitch-esl.ts";
import { startProxy, type TestProxy } from "./proxy.ts";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs `fn` after the file's tests (newest first). */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` (sync or async) every 25 ms; throws after `ms`. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms`);
    await sleep(25);
  }
}

export interface RawPeer {
  readonly port: number;
  /** Connections accepted so far, with their accept times (performance.now()). */
  readonly accepted: number[];
  /** Sockets open now on the peer's side. */
  readonly open: Set<Socket>;
  /** Sockets the proxy closed (the peer saw an end or a reset) */
  readonly closedByProxy: number;
  close(): Promise<void>;
}

/** A TCP peer on 127.0.0.1 that hands each accepted socket to `onConn`; closed after the file. */
export async function rawPeer(onConn: (s: Socket, n: number) => void): Promise<RawPeer> {
  const accepted: number[] = [];
  const open = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closedByProxy = 0;
  const srv: Server = createServer((s) => {
    accepted.push(performance.now());
    open.add(s);
    s.on("error", () => {});
    s.on("end", () => closedByProxy++);
    s.on("close", () => open.delete(s));
    onConn(s, accepted.length);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  let closed = false;
  const peer: RawPeer = {
    port: (srv.address() as { port: number }).port,
    accepted,
    open,
    get closedByProxy() {
      return closedByProxy;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      for (const s of open) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
  cleanups.push(() => peer.close());
  return peer;
}

/** setInterval that stops when the socket closes and at the latest after `maxTicks` ticks. */
export function everyOnSocket(s: Socket, ms: number, maxTicks: number, fn: (i: number) => void): void {
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed || i >= maxTicks) {
      clearInterval(t);
      return;
    }
    fn(i++);
  }, ms);
  s.once("close", () => clearInterval(t));
  cleanups.push(() => clearInterval(t));
}

/**
 * The FreeSWITCH side of the event-socket handshake on `s`: `auth/request`, `+OK accepted`
 * for any password, `+OK event listener enabled plain`; then `subscribed(s)`.
 */
export function eslHandshake(s: Socket, subscribed: (s: Socket) => void): void {
  s.write(eslFrame("auth/request"));
  let buf = "";
  let step = 0;
  s.on("data", (d: Buffer) => {
    buf += d.toString("latin1");
    if (buf.length > 64 * 1024) s.destroy();
    for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
      const cmd = buf.slice(0, end).trim();
      buf = buf.slice(end + 2);
      if (step === 0 && cmd.startsWith("auth ")) {
        step = 1;
        s.write(eslFrame("command/reply", undefined, { "Reply-Text": "+OK accepted" }));
      } else if (step === 1 && cmd === "event plain HEARTBEAT") {
        step = 2;
        s.write(eslFrame("command/reply", undefined, { "Reply-Text": "+OK event listener enabled plain" }));
        subscribed(s);
      }
    }
  });
}

/** A HEARTBEAT `text/event-plain` frame with these header lines (values sent as given). */
export function rawHeartbeat(fields: Record<string, string>): string {
  const body = `Event-Name: HEARTBEAT\n${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join("")}\n`;
  return eslFrame("text/event-plain", body);
}

// biome-ignore lint/suspicious/noExplicitAny: the admin API's JSON, read field by field in the tests
export type Json = any;

export interface AdminProxy {
  readonly p: TestProxy;
  /** GET an admin API path, parsed. */
  get(path: string): Promise<Json>;
  /** The server `address` of pool `pool` as /api/v1/pools/POOL shows it. */
  server(pool: string, address: string): Promise<Json>;
  metrics(): Promise<string>;
}

/** A proxy from `yaml` (which must not have `admin:`), with an admin API on loopback. */
export async function adminProxy(yaml: string): Promise<AdminProxy> {
  const p = await startProxy(`admin: { listen: 127.0.0.1:0 }\n${yaml}`);
  cleanups.push(() => p.close());
  const base = `http://127.0.0.1:${p.proxy.adminAddress!.port}`;
  const get = async (path: string): Promise<Json> => {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
    return res.json();
  };
  return {
    p,
    get,
    async server(pool, address) {
      const j = await get(`/api/v1/pools/${pool}`);
      return (j.servers as Json[]).find((s) => s.address === address);
    },
    async metrics() {
      const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.text();
    },
  };
}

/** A sip pool `fs` of one server 127.0.0.1:`sipPort` whose event socket is `eslPort`. */
export function sipEslConfig(sipPort: number, eslPort: number, heartbeatTimeout = "10s"): string {
  return `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    balance: least-sessions
    servers: [ { address: 127.0.0.1:${sipPort}, esl: { port: ${eslPort}, heartbeat_timeout: ${heartbeatTimeout} } } ]
`;
}
