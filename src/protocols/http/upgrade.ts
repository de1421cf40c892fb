/**
 * An Upgrade request (WebSocket: RFC 6455 §4.1; Asterisk's ARI) relayed as raw bytes: a
 * server is picked and connected as for any session (the shared attempt loop: a connect
 * failure tries the next server), the request head goes out with the forwarding headers
 * and Upgrade kept, then bytes flow both ways until either side closes or both stay
 * silent for `upgrade_idle_timeout`. The connection counts on its server's slot meanwhile.
 */

import type { Socket } from "node:net";
import { attempt } from "../../balance/attempt.ts";
import type { Pool, PoolMember } from "../../balance/pool.ts";
import { ErrorCodes } from "../../core/errors.ts";
import { connectUpstream } from "../../net/connect.ts";
import type { SessionInfo } from "../../net/stream-session.ts";
import type { HttpListenerOptions } from "./config.ts";
import { normalizeHost, requestPath } from "./host.ts";
import type { EndFn, ExchangeEnv, ExchangeRecord } from "./proxy-env.ts";
import type { HttpRoutes } from "./routes.ts";
import type { PageKind } from "./status-page.ts";
import type { RequestHead } from "./wire/head.ts";
import { forwardRequestHead } from "./wire/rewrite.ts";
import { UpgradeAnswer } from "./wire/upgrade-answer.ts";

/** After one side's FIN, how long the other may take to send its own. */
const HALF_CLOSE_GRACE_MS = 5_000;
/** Reads of the client held while the server has not answered 101, before its socket pauses. */
const HELD_CHUNKS = 16;

export interface UpgradeOptions {
  readonly idleTimeoutMs: number;
  /** The server's answer (101 or a refusal) must begin within this, as any request's (upstream_timeout). */
  readonly answerTimeoutMs: number;
}

/** The upgrade bounds from the listener's options. */
export function upgradeOptions(o: HttpListenerOptions): UpgradeOptions {
  return { idleTimeoutMs: o.upgradeIdleTimeoutMs, answerTimeoutMs: o.upstreamTimeoutMs };
}

export async function relayUpgrade(
  env: ExchangeEnv,
  o: UpgradeOptions,
  req: RequestHead,
  clientAddress: string,
  client: Socket,
  early: Buffer,
  onEnd: EndFn,
): Promise<void> {
  const t0 = performance.now();
  const host = normalizeHost(req.host);
  const path = requestPath(req.target);
  const rec = {
    client: clientAddress,
    method: req.method,
    host,
    path,
    route: undefined as string | undefined,
    pool: undefined as string | undefined,
    server: undefined as string | undefined,
    attempts: [] as ExchangeRecord["attempts"],
    bytesIn: 0,
    bytesOut: 0,
    by: "proxy" as "upstream" | "proxy",
    error: undefined as ExchangeRecord["error"],
  };
  client.on("error", () => {});
  let gone = false;
  client.once("close", () => {
    gone = true;
  });
  const end = (status: number, setupMs: number | undefined) =>
    onEnd({ ...rec, status, durationMs: performance.now() - t0, setupMs });
  let service = host;
  const page = (kind: PageKind) => {
    const p = env.page(kind, host, service);
    const extra = p.retryAfter ? "Retry-After: 5\r\n" : "";
    const h = `HTTP/1.1 ${p.code} ${p.reason}\r\nContent-Type: ${p.contentType}\r\nContent-Length: ${p.body.length}\r\n${extra}Connection: close\r\n\r\n`;
    client.end(Buffer.concat([Buffer.from(h, "latin1"), p.body]));
    setTimeout(() => client.destroy(), 1_000).unref();
    rec.bytesOut = p.body.length;
    return p.code;
  };
  const refuse = (kind: PageKind) => end(page(kind), performance.now() - t0);
  const gen = env.current();
  const route = (gen.routes("http") as HttpRoutes | undefined)?.find(env.listener, host, path);
  rec.route = route?.name;
  if (route === undefined) return refuse("no_route");
  service = route.service ?? host;
  if (route.status === "passivated" && route.wake.length > 0) env.wake(route);
  const pool: Pool | undefined = route.pool === undefined ? undefined : gen.pools.get(route.pool);
  rec.pool = pool?.name;
  if (pool === undefined) return refuse(route.status ?? "no_server");
  const r = await attempt<PoolMember, Socket>(pool, "", {
    what: "connect",
    tryOne: (m, ms) => connectUpstream(m.config.address, m.config.tls, ms, undefined, undefined, true),
    discard: (s) => s.destroy(),
    cancelled: () => gone,
    name: (m) => m.key,
    onFailure: (m, error) => env.attemptFailed(pool.name, m.key, error),
  });
  rec.attempts = r.failures;
  if (!r.ok) {
    if (r.reason === "cancelled") {
      rec.error = { message: "client left", code: ErrorCodes.CLIENT_GONE };
      return end(0, undefined);
    }
    if (r.failures.length === 0) return refuse(route.status ?? "no_server");
    const last = r.failures.at(-1);
    rec.error = { message: last?.error ?? "", code: last?.code ?? ErrorCodes.CONNECT_FAILED };
    return refuse("bad_gateway");
  }
  const up = r.result;
  const m = r.server;
  rec.server = m.key;
  rec.by = "upstream";
  const setupMs = performance.now() - t0;
  up.write(
    forwardRequestHead(req, { client: rec.client, proto: env.proto, host: req.host ?? "" }, true),
    "latin1",
  );
  up.on("error", () => {});
  client.setNoDelay(true);
  client.setTimeout(0);
  // The upstream socket sees every byte of the tunnel (it writes what the client sends and
  // reads what the server sends): its inactivity timer is the tunnel's idle bound.
  up.setTimeout(o.idleTimeoutMs, () => {
    rec.error ??= { message: `no byte for ${o.idleTimeoutMs}ms`, code: ErrorCodes.STALL_TIMEOUT };
    up.destroy();
  });
  // The client's bytes wait for the server's 101: a refused upgrade never turns into a raw
  // tunnel that would carry the client's next requests past routing.
  const held: Buffer[] = early.length > 0 ? [early] : [];
  let tunnel = false;
  client.on("data", (c: Buffer) => {
    rec.bytesIn += c.length;
    if (tunnel) return;
    held.push(c);
    if (held.length > HELD_CHUNKS) client.pause();
  });
  // Paused since its head was read (server-conn.ts): the bytes it sent meanwhile come now.
  client.resume();
  const answer = new UpgradeAnswer(req.method);
  // The proxy's own final answer, when the server's never came: 504 (no final head within
  // upstream_timeout, as for any request) or 502 (a bad head, too many 1xx). Interim answers
  // relayed before it do not matter: any number of 1xx may precede a final one (RFC 9110 §15.2).
  let ours = 0;
  const answerOurselves = (status: 502 | 504) => {
    ours = status;
    if (!gone) page(status === 504 ? "gateway_timeout" : "bad_gateway");
    up.destroy();
  };
  const answerTimer = setTimeout(() => {
    rec.error ??= {
      message: `no answer from the server within ${o.answerTimeoutMs}ms`,
      code: ErrorCodes.UPSTREAM_TIMEOUT,
    };
    answerOurselves(504);
  }, o.answerTimeoutMs);
  up.on("data", (c: Buffer) => {
    rec.bytesOut += c.length;
    if (tunnel || ours !== 0) return;
    const step = answer.read(c);
    // A refusal's body (a 200 streamed forever, say) goes at the client's pace: the server
    // waits while the client reads nothing, else it would all queue in memory.
    if (step.out.length > 0 && !client.write(step.out) && step.kind === "wait" && !up.isPaused()) {
      up.pause();
      client.once("drain", () => up.resume());
    }
    // The wait ends with the final head, not with a 1xx (endless 100s would hold it for good).
    if (answer.status !== 0 || step.kind !== "wait") clearTimeout(answerTimer);
    if (step.kind === "tunnel") {
      tunnel = true;
      for (const h of held.splice(0)) up.write(h);
      up.pipe(client);
      client.pipe(up);
      client.resume();
    } else if (step.kind === "done") {
      // A refusal (or a bad answer) ends the connection once relayed.
      client.end();
      up.destroy();
    }
    if (step.kind === "bad") {
      rec.error ??= { message: `bad answer to the upgrade: ${step.reason}`, code: ErrorCodes.UPSTREAM_GONE };
      if (answer.status === 0) answerOurselves(502);
      else client.destroy();
    }
  });
  let closed = false;
  const onClose = () => {
    clearTimeout(answerTimer);
    up.destroy();
    // Our own answer closes the client's side once written (page()).
    if (ours === 0) client.destroy();
    if (closed) return;
    closed = true;
    pool.release(m);
    end(ours !== 0 ? ours : answer.status, setupMs);
  };
  // A FIN is passed on (pipe); the other side then has a few seconds to close its own.
  const halfClosed = () => setTimeout(onClose, HALF_CLOSE_GRACE_MS).unref();
  // A refusal without a length ends with the server's FIN: so does the client's answer.
  up.once("end", () => {
    if (!tunnel) client.end();
  });
  up.once("end", halfClosed);
  client.once("end", halfClosed);
  up.once("close", onClose);
  if (gone) onClose();
  else client.once("close", onClose);
}

/** An upgrade in flight as the listener lists it, until its relay ends. */
export function upgradeInFlight(head: RequestHead, sock: Socket, client: string) {
  const startedAt = Date.now();
  return {
    info: (): SessionInfo => ({
      client,
      request: `${head.method} ${head.target} (upgrade)`,
      route: undefined,
      pool: undefined,
      server: undefined,
      startedAt,
      bytesIn: sock.bytesRead,
      bytesOut: sock.bytesWritten,
    }),
    destroy: () => sock.destroy(),
  };
}
