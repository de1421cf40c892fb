import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AdminSettings } from "../../config/types.ts";
import { ErrorCodes, errorMessage } from "../../core/errors.ts";
import { type ReusableListenOptions, reusePortSupported, sharesPort } from "../../net/reuse-port.ts";
import { browserGuard, isLoopbackName } from "./guard.ts";
import { authorized, HttpError, readJson, sendError, sendJson } from "./http.ts";
import { clusterPage, limitOf } from "./list-page.ts";
import type { AdminModel, OperatorAction } from "./types.ts";

/** Bounds on every admin connection: a slow or idle client costs a timeout, never a socket for good. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;
const MAX_CONNECTIONS = 256;

const ACTIONS = new Set(["drain", "ready", "maint", "weight"]);

/** A page for the dashboard, when one is built (observe/admin/dashboard). */
export interface StaticPage {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * The admin API (JSON under /api/v1), /metrics and the dashboard, on its own listener.
 * Reads go to anyone who can reach it (loopback by default); changes need the bearer token
 * whenever one is configured, which a non-loopback address requires (config/sections/admin.ts).
 */
export class AdminServer {
  #settings: AdminSettings;
  readonly #model: AdminModel;
  readonly #pages: ReadonlyMap<string, StaticPage>;
  #server: Server | undefined;
  /** Per connection, the request being handled: pipelined requests are handled in order. */
  readonly #busy = new WeakMap<object, Promise<void>>();

  readonly #headersTimeoutMs: number;
  readonly #reusePort: boolean;

  constructor(
    settings: AdminSettings,
    model: AdminModel,
    opts: { pages?: ReadonlyMap<string, StaticPage>; headersTimeoutMs?: number; reusePort?: boolean } = {},
  ) {
    this.#settings = settings;
    this.#model = model;
    this.#pages = opts.pages ?? new Map();
    this.#headersTimeoutMs = opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    this.#reusePort = opts.reusePort ?? reusePortSupported();
  }

  get settings(): AdminSettings {
    return this.#settings;
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  start(): Promise<void> {
    // Node checks headersTimeout/requestTimeout only every connectionsCheckingInterval (30 s by default).
    const server = createServer(
      { connectionsCheckingInterval: Math.min(1_000, this.#headersTimeoutMs) },
      (req, res) => this.#inOrder(req, res),
    );
    server.headersTimeout = this.#headersTimeoutMs;
    server.requestTimeout = Math.max(REQUEST_TIMEOUT_MS, this.#headersTimeoutMs);
    server.keepAliveTimeout = 5_000;
    server.maxConnections = MAX_CONNECTIONS;
    server.setTimeout(IDLE_TIMEOUT_MS, (sock) => sock.destroy());
    this.#server = server;
    const { host, port } = this.#settings.listen;
    // Shared like every listener, so `run --takeover` binds beside the running proxy before
    // it signals it; the old one closes its admin API first thing as it drains.
    const opts: ReusableListenOptions = { host, port, reusePort: sharesPort(this.#reusePort, port) };
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts, () => {
        server.removeListener("error", reject);
        server.on("error", () => {});
        resolve();
      });
    });
  }

  /** A new token applies to the next request; a new address needs a new server (the caller's). */
  update(settings: AdminSettings): void {
    this.#settings = settings;
  }

  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  /**
   * Node hands over a connection's pipelined requests at once; a GET after a POST must see
   * the POST's change (RFC 9112 §9.3.2), so each waits for the one before it on its socket.
   */
  #inOrder(req: IncomingMessage, res: ServerResponse): void {
    const sock = req.socket;
    const before = this.#busy.get(sock);
    const run = before ? before.then(() => this.#handle(req, res)) : this.#handle(req, res);
    this.#busy.set(sock, run);
    void run.then(() => {
      if (this.#busy.get(sock) === run) this.#busy.delete(sock);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const refused = browserGuard(
        req.headers,
        isLoopbackName(this.#settings.listen.host),
        req.method !== "GET" && req.method !== "HEAD",
      );
      if (refused)
        throw new HttpError(
          refused.status,
          refused.status === 415 ? ErrorCodes.ADMIN_MEDIA_TYPE : ErrorCodes.ADMIN_FORBIDDEN,
          refused.message,
        );
      await this.#route(req, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(
        res,
        err instanceof HttpError ? err : new HttpError(500, ErrorCodes.ADMIN_BAD_REQUEST, errorMessage(err)),
      );
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    const parts = url.pathname
      .split("/")
      .filter((p) => p !== "")
      .map(decodePart);
    // HEAD is answered as GET is (RFC 9110 §9.3.2): Node's ServerResponse leaves out the body.
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const page = this.#pages.get(url.pathname);
    if (page && method === "GET") {
      res.writeHead(200, {
        "content-type": page.contentType,
        "content-length": page.body.length,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-security-policy":
          "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      });
      res.end(page.body);
      return;
    }
    if (url.pathname === "/metrics" && this.#model.metrics) {
      if (method !== "GET") throw new HttpError(405, ErrorCodes.ADMIN_METHOD, "use GET", "GET, HEAD");
      const m = await this.#model.metrics();
      // Label values hold names from the config and from etcd: never sniffed into markup.
      res.writeHead(200, {
        "content-type": m.contentType,
        "content-length": Buffer.byteLength(m.body),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      res.end(m.body);
      return;
    }
    if (parts[0] !== "api" || parts[1] !== "v1")
      throw new HttpError(404, ErrorCodes.ADMIN_NOT_FOUND, "not found");
    const rest = parts.slice(2);
    if (method === "GET") return this.#get(rest, url, res);
    if (method === "POST") {
      if (!authorized(req, this.#settings.token))
        throw new HttpError(
          401,
          ErrorCodes.ADMIN_UNAUTHORIZED,
          "a change needs Authorization: Bearer <token>",
        );
      return this.#post(rest, req, res);
    }
    throw new HttpError(405, ErrorCodes.ADMIN_METHOD, `${method} is not served here`, "GET, HEAD, POST");
  }

  #get(rest: string[], url: URL, res: ServerResponse): void {
    const m = this.#model;
    if (rest.length === 1 && rest[0] === "status") {
      sendJson(res, 200, m.status());
      return;
    }
    if (rest.length === 1 && rest[0] === "cluster") {
      const c = m.cluster?.();
      if (!c) throw new HttpError(404, ErrorCodes.ADMIN_NOT_FOUND, "no cluster: etcd is not a config source");
      sendJson(res, 200, clusterPage(c, url));
      return;
    }
    if (rest.length === 1 && rest[0] === "pools") {
      sendJson(res, 200, { pools: m.pools() });
      return;
    }
    if (rest.length === 2 && rest[0] === "pools") {
      const p = m.pool(rest[1] as string);
      if (!p) throw new HttpError(404, ErrorCodes.ADMIN_NOT_FOUND, `no pool named "${rest[1]}"`);
      sendJson(res, 200, p);
      return;
    }
    if (rest.length === 1 && rest[0] === "sessions") {
      sendJson(res, 200, { sessions: m.sessions(limitOf(url)) });
      return;
    }
    throw new HttpError(404, ErrorCodes.ADMIN_NOT_FOUND, "not found");
  }

  async #post(rest: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (rest.length === 1 && rest[0] === "reload") {
      await readJson(req);
      const r = await this.#model.reload("admin API");
      if (r.ok) return sendJson(res, 200, r);
      return sendJson(res, 422, {
        error: {
          code: ErrorCodes.ADMIN_RELOAD_REJECTED,
          message: "the configuration was rejected",
          errors: r.errors,
        },
        config_code: r.code,
      });
    }
    if (rest.length === 5 && rest[0] === "pools" && rest[2] === "servers" && ACTIONS.has(rest[4] as string)) {
      const body = await readJson(req);
      const action = toAction(rest[4] as string, body);
      const r = await this.#model.change(
        rest[1] as string,
        rest[3] as string,
        action,
        `admin API: ${rest[4]}`,
      );
      if (!r.ok)
        throw new HttpError(
          r.status,
          r.status === 503 ? ErrorCodes.ADMIN_STORE_DOWN : ErrorCodes.ADMIN_NOT_FOUND,
          r.message,
        );
      return sendJson(res, 200, r.server);
    }
    throw new HttpError(404, ErrorCodes.ADMIN_NOT_FOUND, "not found");
  }
}

/** A path segment, percent-decoded; a malformed escape is the client's error. */
function decodePart(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new HttpError(400, ErrorCodes.ADMIN_BAD_REQUEST, "the path holds a malformed percent-escape");
  }
}

function toAction(kind: string, body: unknown): OperatorAction {
  if (kind !== "weight") return { kind: kind as "drain" | "ready" | "maint" };
  const w = (body as { weight?: unknown } | null)?.weight;
  if (w === null) return { kind: "weight", weight: null };
  if (typeof w !== "number" || !Number.isInteger(w) || w < 0 || w > 256)
    throw new HttpError(
      400,
      ErrorCodes.ADMIN_BAD_REQUEST,
      'give {"weight": N} with N from 0 to 256 (null lifts it)',
    );
  return { kind: "weight", weight: w };
}
