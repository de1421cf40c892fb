import { createServer, type Server, type Socket } from "node:net";
import type { HostPort } from "../core/address.ts";
import type { Lifecycle, Log } from "../core/types.ts";
import { type AgentState, formatAgentReply } from "./reply.ts";

export interface AgentServerOptions {
  /** Whole life of one connection, from accept to destroy (not an idle timeout). */
  readonly clientTimeoutMs?: number;
  readonly maxClients?: number;
  /** So that one host cannot take every slot from the HAProxies that poll us. */
  readonly maxClientsPerAddress?: number;
  /** What we read (and drop) from one client before cutting it off. */
  readonly maxBytesPerClient?: number;
}

/**
 * Answers HAProxy's agent-check: on each connection the current reply is written at once
 * and the socket ended; what the client sends (agent-send) is read and ignored. Nothing
 * waits on the client, so a slow or hostile one cannot hold up the others.
 */
export class AgentServer implements Lifecycle {
  #state: AgentState;
  /** While set (a failing --check), the reported status is DOWN; the saved state is untouched. */
  #override: string | undefined;
  readonly #listen: HostPort;
  readonly #log: Log;
  readonly #clients = new Set<Socket>();
  readonly #perAddress = new Map<string, number>();
  readonly #opts: Required<AgentServerOptions>;
  #server: Server | undefined;

  constructor(listen: HostPort, state: AgentState, log: Log, opts: AgentServerOptions = {}) {
    this.#listen = listen;
    this.#state = state;
    this.#log = log;
    this.#opts = {
      clientTimeoutMs: opts.clientTimeoutMs ?? 2_000,
      maxClients: opts.maxClients ?? 256,
      maxClientsPerAddress: opts.maxClientsPerAddress ?? 64,
      maxBytesPerClient: opts.maxBytesPerClient ?? 64 * 1024,
    };
  }

  get state(): AgentState {
    return this.#state;
  }

  /**
   * What HAProxy is told now. A failing check turns the status DOWN but leaves MAINT alone:
   * maintenance is the operator's word, and `down ready` would take the server out of it.
   */
  get reported(): AgentState {
    if (this.#override === undefined || this.#state.status === "MAINT") return this.#state;
    return { ...this.#state, status: "DOWN" };
  }

  setState(state: AgentState, reason: string): void {
    const before = formatAgentReply(this.reported);
    this.#state = state;
    const after = formatAgentReply(this.reported);
    if (before !== after)
      this.#log.info(
        { event: "agent_state", state, reply: after.trim(), reason },
        `agent state: ${after.trim()}`,
      );
  }

  setOverride(reason: string | undefined): void {
    const before = formatAgentReply(this.reported);
    this.#override = reason;
    const after = formatAgentReply(this.reported);
    if (before === after) return;
    if (reason === undefined)
      this.#log.info(
        { event: "agent_state", reply: after.trim(), reason: "check passes again" },
        `agent state: ${after.trim()}`,
      );
    else
      this.#log.warn({ event: "agent_state", reply: after.trim(), reason }, `agent state: ${after.trim()}`);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#clients.size;
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  start(): Promise<void> {
    const server = createServer((sock) => this.#answer(sock));
    server.maxConnections = this.#opts.maxClients;
    server.on("error", (err) => this.#log.error({ err: err.message }, "agent listener error"));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.#listen.host, port: this.#listen.port }, () => {
        server.removeListener("error", reject);
        this.#log.info(
          {
            listen: `${this.address?.host}:${this.address?.port}`,
            reply: formatAgentReply(this.reported).trim(),
          },
          "agent listening",
        );
        resolve();
      });
    });
  }

  #answer(sock: Socket): void {
    const addr = sock.remoteAddress ?? "?";
    const n = (this.#perAddress.get(addr) ?? 0) + 1;
    if (n > this.#opts.maxClientsPerAddress) {
      sock.destroy();
      return;
    }
    this.#perAddress.set(addr, n);
    this.#clients.add(sock);
    // An absolute deadline, not an idle timeout: a client trickling a byte a second would
    // otherwise hold its slot forever.
    const deadline = setTimeout(() => sock.destroy(), this.#opts.clientTimeoutMs);
    sock.on("close", () => {
      clearTimeout(deadline);
      this.#clients.delete(sock);
      const left = (this.#perAddress.get(addr) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(addr, left);
      else this.#perAddress.delete(addr);
    });
    sock.on("error", () => sock.destroy());
    // Read and drop what HAProxy sends (agent-send): closing with unread bytes would make
    // the kernel answer with a reset, which can discard our reply before HAProxy reads it.
    // Past the bound the client is cut off; it has had its reply.
    let read = 0;
    sock.on("data", (d: Buffer) => {
      read += d.length;
      if (read > this.#opts.maxBytesPerClient) sock.destroy();
    });
    sock.setNoDelay(true);
    sock.end(formatAgentReply(this.reported));
  }

  /** Stops accepting; connections still open at the deadline (epoch ms) are destroyed. */
  async drain(deadline: number): Promise<void> {
    const server = this.#server;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    const timer = setTimeout(
      () => {
        for (const c of this.#clients) c.destroy();
      },
      Math.max(0, deadline - Date.now()),
    );
    await closed;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    const server = this.#server;
    for (const c of this.#clients) c.destroy();
    if (server?.listening) await new Promise<void>((r) => server.close(() => r()));
  }
}
