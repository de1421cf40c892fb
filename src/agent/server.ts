import { createServer, type Server, type Socket } from "node:net";
import type { HostPort } from "../core/address.ts";
import type { Log } from "../core/types.ts";
import { type AgentState, formatAgentReply } from "./reply.ts";

const CLIENT_TIMEOUT_MS = 2_000;
const MAX_CLIENTS = 256;

/**
 * Answers HAProxy's agent-check: on each connection the current reply is written at once
 * and the socket ended; what the client sends (agent-send) is read and ignored. Nothing
 * waits on the client, so a slow or hostile one cannot hold up the others.
 */
export class AgentServer {
  #state: AgentState;
  /** While set (a failing --check), the reported status is DOWN; the saved state is untouched. */
  #override: string | undefined;
  readonly #listen: HostPort;
  readonly #log: Log;
  readonly #clients = new Set<Socket>();
  #server: Server | undefined;

  constructor(listen: HostPort, state: AgentState, log: Log) {
    this.#listen = listen;
    this.#state = state;
    this.#log = log;
  }

  get state(): AgentState {
    return this.#state;
  }

  /** What HAProxy is told now. */
  get reported(): AgentState {
    return this.#override === undefined ? this.#state : { ...this.#state, status: "DOWN" };
  }

  setState(state: AgentState, reason: string): void {
    const before = formatAgentReply(this.reported);
    this.#state = state;
    const after = formatAgentReply(this.reported);
    if (before !== after) this.#log.info({ event: "agent_state", state, reply: after.trim(), reason }, `agent state: ${after.trim()}`);
  }

  setOverride(reason: string | undefined): void {
    const before = formatAgentReply(this.reported);
    this.#override = reason;
    const after = formatAgentReply(this.reported);
    if (before !== after) this.#log.info({ event: "agent_state", reply: after.trim(), reason: reason ?? "check passes again" }, `agent state: ${after.trim()}`);
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  start(): Promise<void> {
    const server = createServer((sock) => this.#answer(sock));
    server.maxConnections = MAX_CLIENTS;
    server.on("error", (err) => this.#log.error({ err: err.message }, "agent listener error"));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.#listen.host, port: this.#listen.port }, () => {
        server.removeListener("error", reject);
        this.#log.info({ listen: `${this.address?.host}:${this.address?.port}`, reply: formatAgentReply(this.reported).trim() }, "agent listening");
        resolve();
      });
    });
  }

  #answer(sock: Socket): void {
    this.#clients.add(sock);
    sock.on("close", () => this.#clients.delete(sock));
    sock.on("error", () => sock.destroy());
    sock.setTimeout(CLIENT_TIMEOUT_MS, () => sock.destroy());
    // Read and drop whatever HAProxy sends; a client that floods us only fills its own socket.
    sock.on("data", () => {});
    sock.end(formatAgentReply(this.reported));
  }

  async drain(_deadline: number): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  async close(): Promise<void> {
    this.#server?.close();
    for (const c of this.#clients) c.destroy();
  }
}
