/**
 * SIP's config section: the listener keys (transports, the advertised address, the
 * Record-Route key, the bounds of the calls table) and the route keys (what an initial
 * request must look like to go to a pool). Validated once here; the proxy reads frozen values.
 */

import { createHash } from "node:crypto";
import { z } from "zod";
import { compilePlaceholders } from "../../config/hash-key.ts";
import { duration, nonEmpty, regexMap } from "../../config/schema.ts";
import type { BuildContext, ConfigPath, ProtocolConfigSpec } from "../../config/spec.ts";
import type { RouteConfig } from "../../config/types.ts";
import { type HostPort, parseHostPort } from "../../core/address.ts";
import { SAMPLE_MS, type ShedOptions } from "../../net/load-shed.ts";
import { MIN_KEY_BYTES } from "./rr-token.ts";
import type { SipTransportName } from "./transport.ts";

export const SIP_PORT = 5060;

/** A SIP listener's own settings. */
export interface SipListenerOptions {
  readonly transports: readonly SipTransportName[];
  /** The host:port written in Via and Record-Route; undefined: the bound address. */
  readonly advertise: HostPort | undefined;
  /** The Record-Route token key as configured; undefined: derived (rrKey). */
  readonly secret: string | undefined;
  /** Calls in progress (and INVITEs being set up), at most. */
  readonly maxCalls: number;
  /** A call with no BYE seen is forgotten after this long. */
  readonly callTimeoutMs: number;
  /** Bytes of INVITE transactions held (tx-bound.ts txCost), at most; beyond, 503. */
  readonly maxTransactionBytes: number;
  /** New calls refused (503) while the event loop is saturated (net/load-shed.ts); undefined: off. */
  readonly overload: ShedOptions | undefined;
  /**
   * Synthetic calls through a throwaway proxy before the listeners of a process first bind, so
   * its SIP code is compiled before a carrier's traffic arrives (app/sip-warm-up.ts); 0: none.
   * The first SIP listener's value counts; a reload never warms up.
   */
  readonly warmUpCalls: number;
}

export interface SipRouteMatch {
  readonly method: RegExp | undefined;
  readonly ruriUser: RegExp | undefined;
  readonly ruriHost: RegExp | undefined;
  readonly fromUser: RegExp | undefined;
  readonly toUser: RegExp | undefined;
  /** Header name (canonical, lower case) and the regex its first value must match. */
  readonly headers: readonly (readonly [string, RegExp])[];
}

export interface SipRoute extends RouteConfig {
  readonly match: SipRouteMatch;
}

const DEFAULTS = {
  maxCalls: 100_000,
  callTimeoutMs: 4 * 3600_000,
  maxTransactionBytes: 1024 * 1024 * 1024,
  overloadUtilization: 0.95,
  overloadAfterMs: 500,
  warmUpCalls: 2_000,
} as const;

const listenerShape = {
  transports: z
    .array(z.enum(["udp", "tcp", "tls"]))
    .min(1, "list at least one transport")
    .optional(),
  advertise: nonEmpty.optional(),
  secret: z.string().optional(),
  max_calls: z.number().int().min(1).max(10_000_000).optional(),
  call_timeout: duration.optional(),
  max_transaction_bytes: z
    .number()
    .int()
    .min(1024 * 1024, "at least 1 MiB (1,048,576)")
    .max(2 ** 40)
    .optional(),
  overload: z
    .union(
      [
        z.literal("off"),
        z.strictObject({
          utilization: z.number().min(0.5).max(1).optional(),
          after: duration.optional(),
        }),
      ],
      { error: "off, or { utilization: 0.5 to 1, after: a duration }" },
    )
    .optional(),
  warm_up: z.number().int().min(0).max(20_000).optional(),
};

const routeShape = {
  match: z
    .strictObject({
      method: nonEmpty.optional(),
      ruri_user: nonEmpty.optional(),
      ruri_host: nonEmpty.optional(),
      from_user: nonEmpty.optional(),
      to_user: nonEmpty.optional(),
      headers: regexMap.optional(),
    })
    .optional(),
};

type RawListener = z.output<z.ZodObject<typeof listenerShape>>;
type RawRoute = z.output<z.ZodObject<typeof routeShape>> & { pool?: string | undefined };

function buildListenerOptions(
  raw: Record<string, unknown>,
  path: ConfigPath,
  ctx: BuildContext,
): SipListenerOptions {
  const l = raw as RawListener;
  const hasTls = raw.tls !== undefined;
  const transports: SipTransportName[] = [
    ...new Set<SipTransportName>(l.transports ?? (hasTls ? ["tls"] : ["udp"])),
  ];
  // UDP and TCP share a port number; TLS needs one of its own (5061 by convention).
  if (transports.includes("tls") && transports.includes("tcp"))
    ctx.fail([...path, "transports"], "tcp and tls cannot share a port: give tls a listener of its own");
  if (transports.includes("tls") && !hasTls)
    ctx.fail([...path, "transports"], "transport tls needs tls: { cert, key } on the listener");
  if (hasTls && !transports.includes("tls"))
    ctx.fail([...path, "tls"], "tls: is set but transports does not list tls");
  let advertise: HostPort | undefined;
  if (l.advertise !== undefined) {
    const hp = parseHostPort(l.advertise, SIP_PORT);
    if (typeof hp === "string") ctx.fail([...path, "advertise"], hp);
    else if (hp.port === 0) ctx.fail([...path, "advertise"], "an advertised address needs a port");
    else advertise = hp;
  }
  if (l.secret !== undefined && Buffer.byteLength(l.secret) < MIN_KEY_BYTES)
    ctx.fail([...path, "secret"], `the secret must be at least ${MIN_KEY_BYTES} bytes`);
  const o = l.overload === "off" ? undefined : (l.overload ?? {});
  const afterMs = o?.after ?? DEFAULTS.overloadAfterMs;
  if (afterMs < SAMPLE_MS || afterMs > 60_000)
    ctx.fail([...path, "overload", "after"], `from ${SAMPLE_MS}ms to 60s`);
  return {
    transports,
    advertise,
    secret: l.secret,
    maxCalls: l.max_calls ?? DEFAULTS.maxCalls,
    callTimeoutMs: l.call_timeout ?? DEFAULTS.callTimeoutMs,
    maxTransactionBytes: l.max_transaction_bytes ?? DEFAULTS.maxTransactionBytes,
    overload:
      o === undefined
        ? undefined
        : {
            utilization: o.utilization ?? DEFAULTS.overloadUtilization,
            after: Math.max(1, Math.round(afterMs / SAMPLE_MS)),
          },
    warmUpCalls: l.warm_up ?? DEFAULTS.warmUpCalls,
  };
}

/**
 * The HMAC key of the Record-Route token: the secret, or one derived from what a cluster's
 * proxies share in their config (listener name, advertised address), so a restarted proxy or
 * a sibling verifies the tokens of this one. A derived key only stops a caller who does not
 * know the config; the server a token names is also checked against the pools.
 */
export function rrKey(listener: string, options: SipListenerOptions, advertised: HostPort): Buffer {
  if (options.secret !== undefined) return Buffer.from(options.secret, "utf8");
  return createHash("sha256")
    .update(`trunkline-sip-rr\0${listener}\0${advertised.host}:${advertised.port}`)
    .digest();
}

function buildRoute(
  raw: Record<string, unknown>,
  base: RouteConfig,
  path: ConfigPath,
  ctx: BuildContext,
): SipRoute {
  const r = raw as RawRoute;
  if (r.pool === undefined) ctx.fail(path, "a sip route needs a pool");
  const m = r.match ?? {};
  const re = (key: keyof typeof m & string, v: string | undefined) =>
    v === undefined ? undefined : ctx.regex([...path, "match", key], v);
  const headers = Object.entries(m.headers ?? {}).flatMap(([k, v]) => {
    const x = ctx.regex([...path, "match", "headers", k], v);
    return x ? [[k.toLowerCase(), x] as const] : [];
  });
  return {
    ...base,
    match: {
      method: re("method", m.method),
      ruriUser: re("ruri_user", m.ruri_user),
      ruriHost: re("ruri_host", m.ruri_host),
      fromUser: re("from_user", m.from_user),
      toUser: re("to_user", m.to_user),
      headers,
    },
  };
}

/** SIP's config section. */
export const sipConfig: ProtocolConfigSpec = {
  name: "sip",
  defaultPort: SIP_PORT,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Trunkline template string
  defaultHashKey: "${call_id}",
  listenerShape,
  routeShape,
  poolKeys: ["failover_codes", "invite_timeout", "ring_timeout", "esl", "sip-options"],
  // The first transport faces the servers (listener.ts), so pings go over it too.
  serverTransport: (o) => (o as SipListenerOptions).transports[0] ?? "udp",
  buildListenerOptions,
  buildRoute,
  compileHashKey: compilePlaceholders,
};
