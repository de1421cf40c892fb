import type { ListenerConfig } from "../../config/types.ts";
import { connectUpstream } from "../../net/connect.ts";
import { StreamListener, sameBinding } from "../../net/stream-listener.ts";
import type { GenerationView, ListenerContext, Protocol } from "../protocol.ts";
import { fastagiConfig } from "./config.ts";
import { refuseWithFailure } from "./refusal.ts";
import { decide, type RouteDecision } from "./router.ts";
import { FastAgiRoutes } from "./routes.ts";
import { FastAgiSession } from "./session.ts";
import type { SessionEnv } from "./session-env.ts";
import type { FastAgiListenerOptions, FastAgiRoute } from "./types.ts";

function options(l: ListenerConfig): FastAgiListenerOptions {
  return l.options as FastAgiListenerOptions;
}

/**
 * From what age (ms) a session of the listener gets TCP keep-alive (tcp_keepalive_after);
 * 0: at accept and connect, as on a TLS listener (a handshake dwarfs four setsockopt calls).
 */
function keepAliveAfterMs(l: ListenerConfig): number {
  return l.tls ? 0 : options(l).keepAliveAfterMs;
}

/** Connects with TCP keep-alive on from the start. */
const connectKeepAlive: SessionEnv["connect"] = (address, tls, timeoutMs, token, tap) =>
  connectUpstream(address, tls, timeoutMs, token, tap, true);

/** A session's view of the application: the generation it routed in, and the events. */
function sessionEnv(listener: ListenerConfig, ctx: ListenerContext): SessionEnv {
  let gen: ReturnType<ListenerContext["current"]> | undefined;
  // The generation the session was accepted in: it routes the session if a reload has removed
  // the listener in between (the session's header was still coming), as it relays the ones
  // already routed.
  const accepted = ctx.gate === undefined || ctx.gate.open ? currentOrNone(ctx) : undefined;
  return {
    listener,
    options: options(listener),
    events: ctx.events,
    decide: (req) => {
      const route = (): Promise<RouteDecision> => {
        gen = ctx.current();
        if (accepted !== undefined && gen !== accepted && !hasListener(gen, listener.name)) gen = accepted;
        const routes = gen.routes("fastagi") as FastAgiRoutes | undefined;
        if (!routes) return Promise.resolve({ kind: "none", hops: 0 });
        return decide(routes.table, listener.name, req);
      };
      // Accepted before the reload that bound this listener was committed: wait for it.
      const gate = ctx.gate;
      return gate === undefined || gate.open ? route() : gate.opened.then(route);
    },
    pool: (name) => (gen ?? ctx.current()).pools.get(name),
    // Without keep-alive when the listener's sweep turns it on later (session.keepAlive()).
    connect: keepAliveAfterMs(listener) > 0 ? connectUpstream : connectKeepAlive,
  };
}

function currentOrNone(ctx: ListenerContext): GenerationView | undefined {
  try {
    return ctx.current();
  } catch {
    return undefined;
  }
}

function hasListener(gen: GenerationView, name: string): boolean {
  return gen.snapshot.listeners.some((l) => l.name === name);
}

/** FastAGI (Asterisk's AGI over TCP, res_agi.c): the first protocol of the registry. */
export const fastagi: Protocol = {
  ...fastagiConfig,
  // The keep-alive threshold is read when a listener starts: a change makes a new listener.
  sameBinding: (a, b) => sameBinding(a, b) && keepAliveAfterMs(a) === keepAliveAfterMs(b),
  buildRoutes(routes, hasPool, previous) {
    const mine = routes.filter((r): r is FastAgiRoute => r.protocol === "fastagi");
    return new FastAgiRoutes(mine, hasPool, previous instanceof FastAgiRoutes ? previous : undefined);
  },
  describeRoute(route) {
    const r = route as FastAgiRoute;
    const m = [
      ...(r.match.path ? [`path ${r.match.path.source}`] : []),
      ...r.match.query.map(([k, re]) => `query ${k} ${re.source}`),
      ...r.match.header.map(([k, re]) => `${k} ${re.source}`),
    ];
    const to = r.to ? `to agi://${r.to.authority}${r.to.pathAndQuery ?? ""}` : undefined;
    const script = r.script ? `script ${r.script.file}#${r.script.exportName}` : undefined;
    const action = [
      ...(r.rewrite !== undefined ? [`rewrite ${r.rewrite}${r.reinject ? " (reinject)" : ""}`] : []),
      r.pool !== undefined ? `pool ${r.pool}` : (to ?? script ?? "the routes again"),
    ];
    return { match: m.length > 0 ? m.join(", ") : "any", action: action.join(" → ") };
  },
  /** Each connection: Asterisk's socket and, once routed, its server's. */
  descriptors(config: ListenerConfig) {
    return 1 + 2 * options(config).maxConnections;
  },
  createListener(config: ListenerConfig, ctx: ListenerContext) {
    return new StreamListener(config, {
      events: ctx.events,
      reusePort: ctx.reusePort,
      ...(ctx.sharePortZero ? { sharePortZero: true } : {}),
      handshakeTimeoutMs: (l) => options(l).headerTimeoutMs,
      maxPending: (l) => options(l).maxPending,
      maxConnections: (l) => options(l).maxConnections,
      keepAliveAfterMs,
      refuse: (sock) => {
        refuseWithFailure(sock);
      },
      accept: (conn) => {
        const s = new FastAgiSession(conn, sessionEnv(conn.listener, ctx));
        s.start();
        return s;
      },
    });
  },
};
