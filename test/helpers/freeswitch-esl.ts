import { EventEmitter, once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { after } from "node:test";
import { EslClient, type EslClientEvents, type EslClientOptions } from "../../src/health/esl/client.ts";

/**
 * A stand-in FreeSWITCH event socket (mod_event_socket, inbound) on loopback, speaking as
 * docs sip.md "FreeSWITCH event socket (ESL), inbound" describes: bare-LF frames,
 * `auth/request` on connect, `+OK accepted` / `-ERR invalid` (then close), `+OK event
 * listener enabled plain`, HEARTBEAT as `text/event-plain` with url-encoded values, and
 * `text/rude-rejection` for an address its ACL refuses.
 */

export interface HeartbeatFigures {
  sessionCount: number;
  maxSessions: number;
  idleCpu: number;
  sessionsPerSecLast: number;
  hostname: string;
}

export const DEFAULT_FIGURES: HeartbeatFigures = {
  sessionCount: 7,
  maxSessions: 1000,
  idleCpu: 97.633333,
  sessionsPerSecLast: 2,
  hostname: "fs-1.example.net",
};

/** FreeSWITCH's switch_url_encode: everything but unreserved characters as %XX (space is %20). */
export function fsUrlEncode(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The body of a HEARTBEAT as FreeSWITCH 1.10 serializes it, `Key: value\n` lines and an empty line. */
export function heartbeatBody(f: HeartbeatFigures, seq = 1): string {
  const fields: [string, string][] = [
    ["Event-Name", "HEARTBEAT"],
    ["Core-UUID", "6f0a2b8e-5d1c-4a3e-9c1f-2e7b8d9a0c11"],
    ["FreeSWITCH-Hostname", f.hostname],
    ["FreeSWITCH-Switchname", f.hostname],
    ["FreeSWITCH-IPv4", "192.0.2.10"],
    ["FreeSWITCH-IPv6", "::1"],
    ["Event-Date-Local", "2026-12-01 18:21:41"],
    ["Event-Date-GMT", "Tue, 01 Dec 2026 18:21:41 GMT"],
    ["Event-Date-Timestamp", "1796149301000000"],
    ["Event-Calling-File", "switch_core.c"],
    ["Event-Calling-Function", "send_heartbeat"],
    ["Event-Calling-Line-Number", "80"],
    ["Event-Sequence", String(seq)],
    ["Event-Info", "System Ready"],
    ["Up-Time", "0 years, 0 days, 1 hour, 23 minutes, 12 seconds, 345 milliseconds, 678 microseconds"],
    ["FreeSWITCH-Version", "1.10.12-release~64bit"],
    ["Uptime-msec", "4992345"],
    ["Session-Count", String(f.sessionCount)],
    ["Max-Sessions", String(f.maxSessions)],
    ["Session-Per-Sec", "30"],
    ["Session-Per-Sec-Last", String(f.sessionsPerSecLast)],
    ["Session-Per-Sec-Max", "12"],
    ["Session-Per-Sec-FiveMin", "3"],
    ["Session-Since-Startup", "1234"],
    ["Session-Peak-Max", "40"],
    ["Session-Peak-FiveMin", "9"],
    ["Idle-CPU", String(f.idleCpu)],
  ];
  return `${fields.map(([k, v]) => `${k}: ${fsUrlEncode(v)}\n`).join("")}\n`;
}

/** A frame as mod_event_socket writes one: Content-Length first when there is a body. */
export function eslFrame(contentType: string, body?: string, extra: Record<string, string> = {}): string {
  const head = Object.entries(extra).map(([k, v]) => `${k}: ${v}\n`);
  if (body === undefined) return `Content-Type: ${contentType}\n${head.join("")}\n`;
  return `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: ${contentType}\n${head.join("")}\n${body}`;
}

export const RUDE_REJECTION = eslFrame("text/rude-rejection", "Access Denied, go away.\n");
export const DISCONNECT_NOTICE = eslFrame(
  "text/disconnect-notice",
  "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n",
);

export interface FakeFreeSwitchEvents {
  connection: [Socket];
  auth: [{ password: string; ok: boolean; at: number }];
  subscribed: [Socket];
  closed: [Socket];
}

export class FakeFreeSwitch extends EventEmitter<FakeFreeSwitchEvents> {
  password = "ClueCon";
  /** The ACL refuses us: rude rejection on connect, then close. */
  rejectAll = false;
  /** Accept the TCP connection and say nothing (not even auth/request). */
  mute = false;
  figures: HeartbeatFigures = { ...DEFAULT_FIGURES };
  readonly sockets = new Set<Socket>();
  readonly #subscribed = new Set<Socket>();
  readonly #server: Server;
  #seq = 0;

  constructor() {
    super();
    this.#server = createServer((s) => this.#accept(s));
  }

  async listen(port = 0): Promise<number> {
    this.#server.listen(port, "127.0.0.1");
    await once(this.#server, "listening");
    return this.port;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  get subscribers(): number {
    return this.#subscribed.size;
  }

  #accept(s: Socket): void {
    this.sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => {
      this.sockets.delete(s);
      this.#subscribed.delete(s);
      this.emit("closed", s);
    });
    this.emit("connection", s);
    if (this.rejectAll) {
      s.end(RUDE_REJECTION);
      return;
    }
    if (this.mute) return;
    s.write(eslFrame("auth/request"));
    let buf = "";
    let authed = false;
    s.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
        const cmd = buf.slice(0, end).trim();
        buf = buf.slice(end + 2);
        if (!authed) {
          const password = cmd.startsWith("auth ") ? cmd.slice(5) : "";
          const ok = password === this.password;
          this.emit("auth", { password, ok, at: performance.now() });
          if (!ok) {
            s.end(eslFrame("command/reply", undefined, { "Reply-Text": "-ERR invalid" }));
            return;
          }
          authed = true;
          s.write(eslFrame("command/reply", undefined, { "Reply-Text": "+OK accepted" }));
        } else if (cmd === "event plain HEARTBEAT") {
          s.write(eslFrame("command/reply", undefined, { "Reply-Text": "+OK event listener enabled plain" }));
          this.#subscribed.add(s);
          this.emit("subscribed", s);
        } else {
          s.write(eslFrame("command/reply", undefined, { "Reply-Text": "-ERR command not found" }));
        }
      }
    });
  }

  /** One HEARTBEAT to every subscribed connection. */
  heartbeat(figures: Partial<HeartbeatFigures> = {}): void {
    const body = heartbeatBody({ ...this.figures, ...figures }, ++this.#seq);
    this.broadcast(eslFrame("text/event-plain", body));
  }

  /** Raw bytes to every subscribed connection. */
  broadcast(raw: string | Buffer): void {
    for (const s of this.#subscribed) s.write(raw);
  }

  /** Shutdown as FreeSWITCH does it: a disconnect notice, then the socket closes. */
  disconnectAll(): void {
    for (const s of this.sockets) s.end(DISCONNECT_NOTICE);
  }

  /** The process dies: connections reset, nothing said. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

export async function startFakeFreeSwitch(port = 0): Promise<FakeFreeSwitch> {
  const fs = new FakeFreeSwitch();
  await fs.listen(port);
  return fs;
}

/** A client's next `name` event (matching `pred`); rejects after `ms` so a test never hangs. */
export function nextEvent<K extends keyof EslClientEvents>(
  client: EslClient,
  name: K,
  pred: (p: EslClientEvents[K]) => boolean = () => true,
  ms = 5000,
): Promise<EslClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${String(name)} event within ${ms}ms`));
    }, ms);
    const off = client.on(name, (p) => {
      if (!pred(p)) return;
      clearTimeout(t);
      off();
      resolve(p);
    });
  });
}

/** Real timers that count the live ones, to show that close() leaves none behind. */
export function countingTimers(): {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  live(): number;
} {
  const live = new Set<NodeJS.Timeout>();
  return {
    setTimeout(fn, ms) {
      const h: NodeJS.Timeout = setTimeout(() => {
        live.delete(h);
        fn();
      }, ms);
      live.add(h);
      return h;
    },
    clearTimeout(h) {
      live.delete(h as NodeJS.Timeout);
      clearTimeout(h as NodeJS.Timeout);
    },
    live: () => live.size,
  };
}

/** Backoff small enough for tests: 5, 10, 20, 40, 40 ms. */
export const FAST_BACKOFF = { baseMs: 5, factor: 2, maxMs: 40 };

/**
 * What an ESL test file makes again and again: stand-in FreeSWITCHes and clients, all closed
 * after the file's tests (newest first).
 */
export function eslTestKit(): {
  fake(): Promise<FakeFreeSwitch>;
  client(port: number, opts?: Partial<EslClientOptions>): EslClient;
  onCleanup(fn: () => unknown): void;
} {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return {
    async fake() {
      const fs = await startFakeFreeSwitch();
      cleanups.push(() => fs.close());
      return fs;
    },
    client(port, opts = {}) {
      const c = new EslClient({
        host: "127.0.0.1",
        port,
        password: "ClueCon",
        backoff: FAST_BACKOFF,
        ...opts,
      });
      cleanups.push(() => c.close());
      return c;
    },
    onCleanup: (fn) => cleanups.push(fn),
  };
}
