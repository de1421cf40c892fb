/**
 * HTTP's config section: the listener keys (limits on what clients may cost, the upstream
 * wait, the status page template) and the route keys (host and path prefix, the pool, the
 * service status shown when no server is routable). Validated once here; the proxy reads
 * frozen values.
 */

import { z } from "zod";
import { compilePlaceholders } from "../../config/hash-key.ts";
import { duration, nonEmpty } from "../../config/schema.ts";
import type { BuildContext, ConfigPath, ProtocolConfigSpec } from "../../config/spec.ts";
import type { RouteConfig } from "../../config/types.ts";
import { type HostPattern, parseHostPattern } from "./host.ts";

export const HTTP_PORT = 80;

export const SERVICE_STATUSES = ["starting", "passivated", "stopped", "error"] as const;
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

/** An HTTP listener's own settings. */
export interface HttpListenerOptions {
  /** Bytes of request line and headers, at most (Node's maxHeaderSize). */
  readonly maxHeaderSize: number;
  /** A client must finish its request headers within this (slowloris). */
  readonly headerTimeoutMs: number;
  /** A client must finish its whole request (headers and body) within this. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeoutMs: number;
  /** A client socket with no byte read or written for this long is closed (a client that stops reading). */
  readonly clientTimeoutMs: number;
  /** From the request sent to the upstream's response head, and between body chunks: else 504. */
  readonly upstreamTimeoutMs: number;
  /** An upgraded connection (WebSocket) with no byte either way for this long is closed. */
  readonly upgradeIdleTimeoutMs: number;
  /** Connections to one upstream server, at most (kept alive between requests). */
  readonly upstreamConnections: number;
  /** Client connections open at once, at most (the rest are refused at accept). */
  readonly maxConnections: number;
  /** The status page template (file contents), or undefined for the built-in one. */
  readonly statusPage: string | undefined;
}

export interface HttpRouteMatch {
  readonly host: HostPattern;
  /** "" matches every path. */
  readonly pathPrefix: string;
}

export interface HttpRoute extends RouteConfig {
  readonly match: HttpRouteMatch;
  readonly service: string | undefined;
  readonly status: ServiceStatus | undefined;
  /** Opaque keys carried by the http.wake event (the etcd side writes `started` into each). */
  readonly wake: readonly string[];
}

const DEFAULTS = {
  maxHeaderSize: 16 * 1024,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 5_000,
  clientTimeoutMs: 60_000,
  upstreamTimeoutMs: 30_000,
  upgradeIdleTimeoutMs: 300_000,
  upstreamConnections: 64,
  maxConnections: 10_000,
} as const;

const listenerShape = {
  max_header_size: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .optional(),
  header_timeout: duration.optional(),
  request_timeout: duration.optional(),
  idle_timeout: duration.optional(),
  client_timeout: duration.optional(),
  upstream_timeout: duration.optional(),
  upgrade_idle_timeout: duration.optional(),
  upstream_connections: z.number().int().min(1).max(10_000).optional(),
  max_connections: z.number().int().min(1).max(1_000_000).optional(),
  status_page: nonEmpty.optional(),
};

const routeShape = {
  match: z.strictObject({ host: nonEmpty.optional(), path_prefix: nonEmpty.optional() }).optional(),
  service: nonEmpty.optional(),
  status: z.enum(SERVICE_STATUSES).optional(),
  wake: z.array(nonEmpty).max(64).optional(),
};

type RawListener = z.output<z.ZodObject<typeof listenerShape>>;
type RawRoute = z.output<z.ZodObject<typeof routeShape>> & { pool?: string | undefined };

function buildListenerOptions(
  raw: Record<string, unknown>,
  path: ConfigPath,
  ctx: BuildContext,
): HttpListenerOptions {
  const l = raw as RawListener;
  const ms = (key: keyof RawListener & string, v: number | undefined, dflt: number) => {
    if (v !== undefined && v < 10) ctx.fail([...path, key], "must be at least 10ms");
    return v ?? dflt;
  };
  const headerTimeoutMs = ms("header_timeout", l.header_timeout, DEFAULTS.headerTimeoutMs);
  const requestTimeoutMs = ms("request_timeout", l.request_timeout, DEFAULTS.requestTimeoutMs);
  // Node's http server refuses a headersTimeout above its requestTimeout.
  if (headerTimeoutMs > requestTimeoutMs)
    ctx.fail([...path, "header_timeout"], "must not exceed request_timeout");
  const upstreamTimeoutMs = ms("upstream_timeout", l.upstream_timeout, DEFAULTS.upstreamTimeoutMs);
  const clientTimeoutMs = ms("client_timeout", l.client_timeout, DEFAULTS.clientTimeoutMs);
  // The client's socket is silent while the upstream thinks: it must outlast that wait.
  if (clientTimeoutMs <= upstreamTimeoutMs)
    ctx.fail([...path, "client_timeout"], "must be longer than upstream_timeout");
  const page =
    l.status_page === undefined ? undefined : ctx.readFile([...path, "status_page"], l.status_page);
  return {
    maxHeaderSize: l.max_header_size ?? DEFAULTS.maxHeaderSize,
    headerTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: ms("idle_timeout", l.idle_timeout, DEFAULTS.idleTimeoutMs),
    clientTimeoutMs,
    upstreamTimeoutMs,
    upgradeIdleTimeoutMs: ms("upgrade_idle_timeout", l.upgrade_idle_timeout, DEFAULTS.upgradeIdleTimeoutMs),
    upstreamConnections: l.upstream_connections ?? DEFAULTS.upstreamConnections,
    maxConnections: l.max_connections ?? DEFAULTS.maxConnections,
    statusPage: page?.toString("utf8"),
  };
}

function buildRoute(
  raw: Record<string, unknown>,
  base: RouteConfig,
  path: ConfigPath,
  ctx: BuildContext,
): HttpRoute | undefined {
  const r = raw as RawRoute;
  if (r.pool === undefined && r.status === undefined)
    ctx.fail(path, "an http route needs a pool or a status");
  if (r.wake !== undefined && r.status !== "passivated")
    ctx.fail([...path, "wake"], "wake applies to a route whose status is passivated");
  const host = parseHostPattern(r.match?.host);
  if (typeof host === "string") return ctx.fail([...path, "match", "host"], host);
  const prefix = r.match?.path_prefix ?? "";
  if (prefix !== "" && !prefix.startsWith("/"))
    ctx.fail([...path, "match", "path_prefix"], "a path prefix starts with /");
  return {
    ...base,
    match: { host, pathPrefix: prefix === "/" ? "" : prefix },
    service: r.service,
    status: r.status,
    wake: r.wake ?? [],
  };
}

/** HTTP's config section. */
export const httpConfig: ProtocolConfigSpec = {
  name: "http",
  defaultPort: HTTP_PORT,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Trunkline template string
  defaultHashKey: "${client}",
  listenerShape,
  routeShape,
  poolKeys: ["http"],
  tlsSni: true,
  buildListenerOptions,
  buildRoute,
  compileHashKey: compilePlaceholders,
};
