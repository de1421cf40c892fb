/**
 * One HTTP request through the proxy: route by Host and path, pick a server (the shared
 * pools: balancer, health, operator overrides, max_sessions), send it over one of that
 * server's keep-alive connections with the body streamed, relay the answer streamed, retry
 * on another server only when that cannot repeat a change (outcome.ts), and say how it went
 * (one session.end per request). The request holds its server's slot until the answer is done.
 */

import type { Pool, PoolMember } from "../../balance/pool.ts";
import { type ErrorCode, ErrorCodes } from "../../core/errors.ts";
import type { FailedTry } from "../../events/types.ts";
import { type CancelToken, cancel } from "../../net/connect.ts";
import type { SessionInfo } from "../../net/stream-session.ts";
import type { HttpRoute } from "./config.ts";
import { hashVars, normalizeHost, requestPath } from "./host.ts";
import { blamesServer, classifyFailure, mayRetry, mayRetryStale, type TryFailure } from "./outcome.ts";
import { sendPage } from "./pages.ts";
import type { EndFn, ExchangeEnv } from "./proxy-env.ts";
import type { HttpRoutes } from "./routes.ts";
import type { PageKind } from "./status-page.ts";
import type { ResponseHead } from "./wire/head.ts";
import { type InboundRequest, responseMode } from "./wire/inbound.ts";
import { clientResponseHead, forwardRequestHead } from "./wire/rewrite.ts";
import { type CallHandler, UpstreamCall } from "./wire/upstream-call.ts";
import { PoolClosed, type UpstreamConn } from "./wire/upstream-pool.ts";

const OK = { ok: true } as const;
/** A request whose server's pool a reload closed is routed again, at most this many times. */
const MAX_REROUTES = 2;

export class HttpExchange implements CallHandler {
  readonly #env: ExchangeEnv;
  readonly #onEnd: EndFn;
  readonly #req: InboundRequest;
  readonly #t0: number; // when its head was read whole (performance.now())
  readonly #host: string;
  readonly #path: string;
  #route: HttpRoute | undefined;
  #pool: Pool | undefined;
  #member: PoolMember | undefined;
  #tried: Set<PoolMember> | undefined;
  #deadline = 0;
  #hashKey = "";
  #upstreamHead = "";
  #token: CancelToken | undefined;
  #call: UpstreamCall | undefined;
  #stale = 0;
  #reroutes = 0;
  readonly #failures: FailedTry[] = [];
  #last: TryFailure | undefined;
  #bytesOut = 0;
  #setupMs: number | undefined;
  #status = 0;
  #by: "upstream" | "proxy" = "proxy";
  #error: { message: string; code: ErrorCode } | undefined;
  #ended = false;

  constructor(env: ExchangeEnv, req: InboundRequest, onEnd: EndFn) {
    this.#env = env;
    this.#onEnd = onEnd;
    this.#req = req;
    this.#t0 = req.t0;
    this.#host = normalizeHost(req.head.host);
    this.#path = requestPath(req.head.target);
    req.onClose = (finished) => this.#closed(finished);
    req.onDrain = () => this.#call?.resume();
    req.onBadBody = () => this.#badBody();
  }

  info(): SessionInfo {
    return {
      client: this.#req.client,
      request: `${this.#req.head.method} ${this.#host}${this.#path}`,
      route: this.#route?.name,
      pool: this.#pool?.name,
      server: this.#member?.key,
      startedAt: Date.now() - Math.round(performance.now() - this.#t0),
      bytesIn: this.#req.taken,
      bytesOut: this.#bytesOut,
    };
  }

  destroy(reason: string): void {
    this.#error ??= { message: reason, code: ErrorCodes.SHUTDOWN };
    this.#call?.abort();
    this.#req.destroy();
  }

  /** `from`: when its total_timeout starts, if not when its head was read (a reload's gate, a reroute). */
  run(from = this.#t0): void {
    // The client may have left while the request waited for its listener's commit.
    if (this.#ended) return;
    const env = this.#env;
    const gen = env.current();
    const route = (gen.routes("http") as HttpRoutes | undefined)?.find(env.listener, this.#host, this.#path);
    this.#route = route;
    if (route === undefined) {
      this.#page("no_route", ErrorCodes.NO_ROUTE);
      return;
    }
    if (route.status === "passivated" && route.wake.length > 0) env.wake(route);
    const pool = route.pool === undefined ? undefined : gen.pools.get(route.pool);
    this.#pool = pool;
    if (pool === undefined) {
      this.#page(route.status ?? "no_server", ErrorCodes.NO_SERVER);
      return;
    }
    const h = this.#req.head;
    const fwd = { client: this.#req.client, proto: env.proto, host: h.host ?? "" };
    this.#upstreamHead = forwardRequestHead(h, fwd);
    if (pool.config.balance === "hash")
      this.#hashKey = pool.config.hashKeyOf(hashVars(this.#req.client, this.#host, this.#path, h.method));
    this.#tried = new Set();
    this.#deadline = from + pool.totalTimeoutMs;
    this.#next();
  }

  /** The next server to try, or the page that says none can answer. */
  #next(): void {
    const pool = this.#pool as Pool;
    const tried = this.#tried as Set<PoolMember>;
    const m =
      tried.size === 0 || performance.now() < this.#deadline ? pool.acquire(this.#hashKey, tried) : undefined;
    if (m === undefined) {
      this.#noneLeft();
      return;
    }
    tried.add(m);
    // Held from now: the client leaving mid-try gives the slot back (#closed).
    this.#member = m;
    this.#stale = 0;
    this.#connect(m);
  }

  #connect(m: PoolMember): void {
    const pool = this.#pool as Pool;
    const up = this.#env.upstreams.get(m.key, m.config.address, m.config.tls, pool.connectTimeoutMs);
    const token: CancelToken = { cancelled: false, onCancel: undefined };
    this.#token = token;
    up.acquire(token, (err, conn) => {
      this.#token = undefined;
      if (this.#ended) {
        if (conn !== undefined) up.release(conn, false);
        return;
      }
      if (err instanceof PoolClosed && this.#reroutes++ < MAX_REROUTES) {
        // A reload took the server out while the request waited: route it again, on the new config.
        this.#releaseMember();
        this.run(performance.now());
      } else if (conn === undefined) this.#failed(err ?? new Error("no connection"), false);
      else this.#send(conn);
    });
  }

  #send(conn: UpstreamConn): void {
    const req = this.#req;
    const body = req.head.framing.kind !== "none";
    // The client waits for this before it sends the body (Expect is not passed on).
    if (body && req.head.expectContinue) req.sendContinue();
    const call = new UpstreamCall(conn, req.head.method, body ? req : undefined, req.head.minor === 0, this);
    this.#call = call;
    call.start(this.#upstreamHead);
  }

  interim(h: ResponseHead): boolean {
    return !this.#ended && this.#req.writeInterim(clientResponseHead(h));
  }

  head(h: ResponseHead): void {
    const pool = this.#pool as Pool;
    const m = this.#member as PoolMember;
    pool.report(m, h.status >= 500 ? { ok: false, reason: `HTTP ${h.status}` } : OK);
    if (this.#failures.length > 0) pool.failedOver(m);
    this.#by = "upstream";
    this.#status = h.status;
    this.#setupMs = performance.now() - this.#t0;
    const mode = responseMode(h.framing.kind, this.#req.head.minor);
    this.#req.writeHeadText(clientResponseHead(h), mode, h.codings);
  }

  data(chunk: Buffer): boolean {
    if (this.#ended) return false;
    this.#bytesOut += chunk.length;
    return this.#req.write(chunk);
  }

  done(): void {
    this.#call = undefined;
    if (!this.#ended) this.#req.end();
  }

  fail(err: Error, responded: boolean, stale: boolean): void {
    this.#call = undefined;
    if (this.#ended) return;
    // An answer whose head has not reached the client yet (its body was bad) is replaced by a 502.
    if (responded && !this.#req.retract()) {
      const f = classifyFailure(err, true);
      this.#error ??= { message: f.message, code: f.code };
      this.#req.destroy();
      return;
    }
    if (stale && mayRetryStale(this.#req.head.method, this.#req.taken, this.#stale)) {
      this.#stale++;
      this.#connect(this.#member as PoolMember);
      return;
    }
    this.#failed(err, true);
  }

  /** The client's chunked body is malformed (RFC 9112 §7.1): 400 if no answer has begun, else a cut. */
  #badBody(): void {
    if (this.#ended) return;
    // The server has part of a body that will never be whole: its connection is closed, not reused.
    this.#call?.abort();
    this.#status = 400;
    this.#by = "proxy";
    if (!this.#req.refuse(400)) this.#req.destroy();
  }

  /** A try failed before any answer: report it, then the next server if that is safe. */
  #failed(err: Error, reached: boolean): void {
    const pool = this.#pool as Pool;
    const m = this.#member as PoolMember;
    this.#releaseMember();
    const f = classifyFailure(err, reached);
    this.#last = f;
    this.#failures.push({ server: m.key, error: f.message, code: f.code });
    if (blamesServer(err, f)) pool.report(m, { ok: false, reason: `request failed: ${f.message}` });
    this.#env.attemptFailed(pool.name, m.key, f.message);
    const h = this.#req.head;
    if (mayRetry(f, h.method, h.framing.kind !== "none", this.#req.taken)) {
      this.#next();
      return;
    }
    this.#error = { message: f.message, code: f.code };
    this.#page(f.timeout && f.sent ? "gateway_timeout" : "bad_gateway", f.code);
  }

  #noneLeft(): void {
    const last = this.#last;
    if (last === undefined) {
      this.#page(this.#route?.status ?? "no_server", ErrorCodes.NO_SERVER);
      return;
    }
    this.#error = { message: last.message, code: last.code };
    this.#page(last.timeout && last.sent ? "gateway_timeout" : "bad_gateway", last.code);
  }

  #releaseMember(): void {
    const m = this.#member;
    if (m === undefined || this.#pool === undefined) return;
    this.#member = undefined;
    this.#pool.release(m);
  }

  #page(kind: PageKind, code: ErrorCode | undefined): void {
    const req = this.#req;
    if (this.#ended || req.headersSent) return;
    if (code !== undefined && this.#error === undefined && kind !== "starting" && kind !== "passivated")
      this.#error = { message: kind, code };
    const p = this.#env.page(kind, this.#host, this.#route?.service ?? this.#host);
    this.#status = p.code;
    this.#setupMs = performance.now() - this.#t0;
    this.#by = "proxy";
    this.#bytesOut = p.body.length;
    sendPage(req, p);
  }

  #closed(finished: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!finished) {
      this.#call?.abort();
      if (this.#token !== undefined) cancel(this.#token);
      this.#error ??= {
        message: "the client left before the answer was complete",
        code: ErrorCodes.CLIENT_GONE,
      };
    }
    const server = this.#member?.key;
    this.#releaseMember();
    this.#onEnd({
      route: this.#route?.name,
      pool: this.#pool?.name,
      server,
      attempts: this.#failures,
      durationMs: performance.now() - this.#t0,
      setupMs: this.#setupMs,
      bytesIn: this.#req.taken,
      bytesOut: this.#bytesOut,
      status: finished ? this.#status : 0,
      by: this.#by,
      method: this.#req.head.method,
      host: this.#host,
      path: this.#path,
      client: this.#req.client,
      error: this.#error,
    });
  }
}
