import type { EslConfig } from "../config/types.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { ServerEntry } from "../servers/server.ts";
import type { BackoffOptions } from "./esl/backoff.ts";
import { EslClient, type EslClientEvents, type EslClientState } from "./esl/client.ts";
import type { MonitoredPool } from "./types.ts";

/** Timings of the event-socket clients; the defaults are EslClient's (60 s without a heartbeat). */
export interface EslSourceOptions {
  readonly heartbeatTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly authTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
}

interface Source {
  readonly client: EslClient;
  /** host, port and password: a change of any of them means a new connection. */
  readonly key: string;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** Why the server is out, in the words an operator reads in the log. */
function downWhy(d: EslClientEvents["down"], heartbeatTimeoutMs: number): string {
  switch (d.reason) {
    case "silent":
      return `esl: no heartbeat for ${seconds(heartbeatTimeoutMs)}`;
    case "auth_rejected":
      return `esl: auth failed (${d.message})`;
    case "connect_failed":
      return `esl: connect failed (${d.message})`;
    default:
      return `esl: ${d.reason.replace(/_/g, " ")} (${d.message})`;
  }
}

/**
 * The push-fed health source beside the polled probes: one long-lived event-socket client per
 * server that has `esl:` (FreeSWITCH), kept across generations like the checkers. Its
 * heartbeats feed the server's esl layer (load report, calls routed since); a lost connection
 * or heartbeats that stop (2–3 missed, the client's watchdog) put that layer down with the
 * reason; a reconnect (subscribed again) brings it back up, or after silence the next
 * heartbeat. A server whose event socket never answered yet counts as up: no information is
 * not a failure.
 */
export class EslSources {
  readonly #events: EventBus<TrunklineEvents>;
  readonly #o: EslSourceOptions;
  readonly #sources = new Map<ServerEntry, Source>();

  constructor(events: EventBus<TrunklineEvents>, options: EslSourceOptions = {}) {
    this.#events = events;
    this.#o = options;
  }

  /** The connection state of a server's client (undefined: it has none). */
  state(server: ServerEntry): EslClientState | undefined {
    return this.#sources.get(server)?.client.state;
  }

  update(pools: ReadonlyMap<string, MonitoredPool>): void {
    const want = new Map<ServerEntry, EslConfig>();
    const present = new Set<ServerEntry>();
    for (const pool of pools.values())
      for (const m of pool.servers) {
        present.add(m.server);
        // A server in several pools is one FreeSWITCH: the first pool (config order) that gives esl wins.
        if (m.config.esl && !want.has(m.server)) want.set(m.server, m.config.esl);
      }
    for (const [server, src] of this.#sources) {
      const esl = want.get(server);
      if (esl && keyOf(esl) === src.key) continue;
      src.client.close();
      this.#sources.delete(server);
      if (present.has(server))
        server.resetLoad(esl ? "esl: settings changed, reconnecting" : "esl removed from the pool");
    }
    for (const [server, esl] of want) if (!this.#sources.has(server)) this.#start(server, esl);
  }

  #start(server: ServerEntry, esl: EslConfig): void {
    const o = this.#o;
    const heartbeatTimeoutMs = o.heartbeatTimeoutMs ?? esl.heartbeatTimeoutMs;
    let client: EslClient;
    try {
      client = new EslClient({
        host: esl.host,
        port: esl.port,
        password: esl.password,
        heartbeatTimeoutMs,
        ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
        ...(o.authTimeoutMs !== undefined ? { authTimeoutMs: o.authTimeoutMs } : {}),
        ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
      });
    } catch (err) {
      // A password the client refuses (CR/LF): no connection can ever succeed.
      const why = `esl: ${(err as Error).message}`;
      server.setEslDown(why, why);
      return;
    }
    const src: Source = { client, key: keyOf(esl) };
    this.#sources.set(server, src);
    const where = `${esl.host}:${esl.port}`;
    // After heartbeats stopped, a new connection proves only that the socket answers, as the
    // old one did: a box that hangs but accepts would flap back in after every watchdog. So
    // after silence only a heartbeat brings it back; after any other loss, the reconnect does.
    let silent = false;
    client.on("up", () => {
      this.#emit(server, { state: "up", reason: `connected to ${where}`, wasUp: false });
      if (!silent) server.setEslDown(undefined, `esl: connected to ${where}, subscribed to HEARTBEAT`);
    });
    client.on("heartbeat", (r) => {
      silent = false;
      server.setLoadReport(r);
      if (server.eslDown !== undefined) server.setEslDown(undefined, "esl: heartbeat");
    });
    client.on("warning", (w) => {
      if (this.#events.has("esl.warning"))
        this.#events.emit("esl.warning", { server: server.key, pools: server.pools, message: w.message });
    });
    client.on("down", (d) => {
      if (d.reason === "silent") silent = true;
      const why = downWhy(d, heartbeatTimeoutMs);
      server.setEslDown(why, why);
      this.#emit(server, { state: "down", reason: why, wasUp: d.wasUp, retryInMs: d.retryInMs });
    });
    client.start();
  }

  #emit(
    server: ServerEntry,
    e: { state: "up" | "down"; reason: string; wasUp: boolean; retryInMs?: number },
  ): void {
    if (this.#events.has("esl.state"))
      this.#events.emit("esl.state", { server: server.key, pools: server.pools, ...e });
  }

  close(): void {
    for (const s of this.#sources.values()) s.client.close();
    this.#sources.clear();
  }
}

function keyOf(e: EslConfig): string {
  return JSON.stringify([e.host, e.port, e.password, e.heartbeatTimeoutMs]);
}
