/**
 * One HTTP request through the proxy: route by Host and path, pick a server (the shared
 * pools: balancer, health, operator overrides, max_sessions), send it over that server's
 * keep-alive pool with the body streamed, relay the answer streamed, retry on another
 * server only when that cannot repeat a change (outcome.ts), and say how it went (one
 * session.end per request). The request holds its server's slot until the answer is done.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Dispatcher, Pool as UndiciPool } from "undici";
import type { Pool, PoolMember } from "../../balance/pool.ts";
import { type ErrorCode, ErrorCodes } from "../../core/errors.ts";
import type { FailedTry } from "../../events/types.ts";
import type { SessionInfo } from "../../net/stream-session.ts";
import { BodyTap } from "./body-tap.ts";
import type { HttpRoute } from "./config.ts";
import { clientResponseHeaders, hasBody, upstreamRequestHeaders } from "./headers.ts";
import { normalizeHost, requestPath } from "./host.ts";
import { classifyFailure, mayRetry, type TryFailure } from "./outcome.ts";
import type { EndFn, ExchangeEnv } from "./proxy-env.ts";
import type { HttpRoutes } from "./routes.ts";
import type { PageKind } from "./status-page.ts";

export class HttpExchange {
  readonly #env: ExchangeEnv;
  readonly #onEnd: EndFn;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #startedAt = Date.now();
  readonly #t0 = performance.now();
  readonly #client: string;
  readonly #host: string;
  readonly #path: string;
  /** undici's abort of the try in progress (onConnect), until it completes. */
  #abortUpstream: ((err?: Error) => void) | undefined;
  #route: HttpRoute | undefined;
  #pool: Pool | undefined;
  #member: PoolMember | undefined;
  readonly #failures: FailedTry[] = [];
  #tap: BodyTap | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #setupMs: number | undefined;
  #status = 0;
  #by: "upstream" | "proxy" = "proxy";
  #error: { message: string; code: ErrorCode } | undefined;
  #ended = false;

  constructor(env: ExchangeEnv, req: IncomingMessage, res: ServerResponse, onEnd: EndFn) {
    this.#env = env;
    this.#onEnd = onEnd;
    this.#req = req;
    this.#res = res;
    this.#client = req.socket.remoteAddress ?? "";
    this.#host = normalizeHost(req.headers.host);
    this.#path = requestPath(req.url);
    res.once("close", () => this.#closed());
  }

  info(): SessionInfo {
    return {
      client: this.#client,
      request: `${this.#req.method} ${this.#host}${this.#path}`,
      route: this.#route?.name,
      pool: this.#pool?.name,
      server: this.#member?.key,
      startedAt: this.#startedAt,
      bytesIn: this.#bytesIn + (this.#tap?.taken ?? 0),
      bytesOut: this.#bytesOut,
    };
  }

  destroy(reason: string): void {
    this.#error ??= { message: reason, code: ErrorCodes.SHUTDOWN };
    this.#abortUpstream?.(new Error(reason));
    this.#res.destroy();
  }

  async run(): Promise<void> {
    const env = this.#env;
    const gen = env.current();
    const route = (gen.routes("http") as HttpRoutes | undefined)?.find(env.listener, this.#host, this.#path);
    this.#route = route;
    if (route === undefined) return this.#page("no_route", ErrorCodes.NO_ROUTE);
    if (route.status === "passivated" && route.wake.length > 0) env.wake(route);
    const pool = route.pool === undefined ? undefined : gen.pools.get(route.pool);
    this.#pool = pool;
    if (pool === undefined) return this.#page(route.status ?? "no_server", ErrorCodes.NO_SERVER);
    await this.#forward(pool, route);
  }

  #hashKey(pool: Pool): string {
    if (pool.config.balance !== "hash") return "";
    const vars = new Map([
      ["client", this.#client],
      ["host", this.#host],
      ["path", this.#path],
      ["method", this.#req.method ?? ""],
    ]);
    return pool.config.hashKeyOf(vars);
  }

  async #forward(pool: Pool, route: HttpRoute): Promise<void> {
    const req = this.#req;
    const method = req.method ?? "GET";
    const body = hasBody(req.headers);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      client: this.#client,
      proto: this.#env.proto,
      host: req.headers.host ?? "",
    });
    const hashKey = this.#hashKey(pool);
    const tried = new Set<PoolMember>();
    const deadline = Date.now() + pool.totalTimeoutMs;
    let last: TryFailure | undefined;
    for (;;) {
      if (this.#ended) return;
      const m = tried.size === 0 || Date.now() < deadline ? pool.acquire(hashKey, tried) : undefined;
      if (m === undefined) break;
      tried.add(m);
      // Held from now: the client leaving mid-try gives the slot back (#closed).
      this.#member = m;
      const tap = body ? new BodyTap(req) : undefined;
      this.#tap = tap;
      try {
        const up = this.#env.upstreams.get({
          key: m.key,
          address: m.config.address,
          tls: m.config.tls,
          connectTimeoutMs: pool.connectTimeoutMs,
        });
        await this.#send(up, pool, m, { path: req.url ?? "/", method, headers, body: tap ?? null });
        return;
      } catch (err) {
        this.#releaseMember();
        tap?.destroy();
        if (this.#ended) return;
        const f = classifyFailure(err);
        last = f;
        this.#failures.push({ server: m.key, error: f.message, code: f.code });
        pool.report(m, { ok: false, reason: `request failed: ${f.message}` });
        this.#env.attemptFailed(pool.name, m.key, f.message);
        if (!mayRetry(f, method, body, tap?.taken ?? 0)) break;
      }
    }
    if (last === undefined) return this.#page(route.status ?? "no_server", ErrorCodes.NO_SERVER);
    this.#error = { message: last.message, code: last.code };
    return this.#page(last.timeout && last.sent ? "gateway_timeout" : "bad_gateway", last.code);
  }

  #releaseMember(): void {
    const m = this.#member;
    if (m === undefined || this.#pool === undefined) return;
    this.#member = undefined;
    this.#pool.release(m);
  }

  /**
   * One try over the server's connection pool, with undici's raw handler (no Readable nor
   * promise per chunk): resolves when the response head has been relayed, rejects when the
   * try failed before it (the caller may try another server). After the head, the body goes
   * straight to the client with its backpressure, and a failure cuts the client's answer.
   */
  #send(up: UndiciPool, pool: Pool, m: PoolMember, opts: Dispatcher.DispatchOptions): Promise<void> {
    const res = this.#res;
    return new Promise((resolve, reject) => {
      let headed = false;
      up.dispatch(opts, {
        onConnect: (abort: (err?: Error) => void) => {
          // A client gone before the connection was ready: the request is not written.
          if (this.#ended) return abort(new Error("client gone"));
          this.#abortUpstream = abort;
        },
        onHeaders: (status: number, raw: Buffer[], resume: () => void) => {
          if (status < 200) return true;
          headed = true;
          pool.report(m, status >= 500 ? { ok: false, reason: `HTTP ${status}` } : { ok: true });
          if (this.#failures.length > 0) pool.failedOver(m);
          this.#writeHead(status, raw);
          res.on("drain", resume);
          resolve();
          return true;
        },
        onData: (chunk: Buffer) => {
          if (this.#ended) return false;
          this.#bytesOut += chunk.length;
          return res.write(chunk);
        },
        onComplete: () => {
          this.#abortUpstream = undefined;
          if (!this.#ended) res.end();
        },
        onError: (err: Error) => {
          this.#abortUpstream = undefined;
          if (!headed) return reject(err);
          if (this.#ended) return;
          const f = classifyFailure(err);
          this.#error ??= { message: f.message, code: f.code };
          res.destroy();
        },
      } as unknown as Dispatcher.DispatchHandler);
    });
  }

  #writeHead(status: number, raw: Buffer[]): void {
    this.#by = "upstream";
    this.#status = status;
    this.#setupMs = performance.now() - this.#t0;
    const strings: string[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) strings[i] = (raw[i] as Buffer).toString("latin1");
    const headers = clientResponseHeaders(strings);
    if (this.#env.draining()) headers.push("Connection", "close");
    this.#res.writeHead(status, headers);
  }

  #page(kind: PageKind, code: ErrorCode | undefined): void {
    if (this.#ended || this.#res.headersSent) return;
    if (code !== undefined && this.#error === undefined && kind !== "starting" && kind !== "passivated")
      this.#error = { message: kind, code };
    const p = this.#env.page(kind, this.#host, this.#route?.service ?? this.#host);
    this.#status = p.code;
    this.#setupMs = performance.now() - this.#t0;
    const headers: string[] = ["Content-Type", p.contentType, "Cache-Control", "no-store"];
    headers.push("Content-Length", String(p.body.length));
    if (p.retryAfter) headers.push("Retry-After", "5");
    if (this.#env.draining()) headers.push("Connection", "close");
    this.#res.writeHead(p.code, headers);
    this.#bytesOut = p.body.length;
    // The request body is not wanted: read and dropped, so the connection can be reused.
    this.#req.resume();
    this.#res.end(this.#req.method === "HEAD" ? undefined : p.body);
  }

  #closed(): void {
    if (this.#ended) return;
    this.#ended = true;
    const finished = this.#res.writableFinished;
    if (!finished) {
      this.#abortUpstream?.(new Error("client gone"));
      this.#error ??= {
        message: "the client left before the answer was complete",
        code: ErrorCodes.CLIENT_GONE,
      };
    }
    const server = this.#member?.key;
    this.#releaseMember();
    this.#bytesIn += this.#tap?.taken ?? 0;
    this.#tap = undefined;
    this.#onEnd({
      route: this.#route?.name,
      pool: this.#pool?.name,
      server,
      attempts: this.#failures,
      durationMs: performance.now() - this.#t0,
      setupMs: this.#setupMs,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      status: finished ? this.#status : 0,
      by: this.#by,
      method: this.#req.method ?? "",
      host: this.#host,
      path: this.#path,
      client: this.#client,
      error: this.#error,
    });
  }
}
