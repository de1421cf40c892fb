import { z } from "zod";
import { parseDuration } from "../core/duration.ts";

/**
 * The user-facing YAML contract, common part. Strict objects: an unknown key is an error,
 * never ignored. Listeners and routes are checked here only for the keys every protocol
 * shares; each is then checked against its protocol's own keys (config/sections/), with the
 * same `path: message` reports. Cross-references (route → pool, regexes, files) are checked
 * when the snapshot is built.
 */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `invalid duration "${v}" (use e.g. 500ms, 2s, 1m)` });
    return z.NEVER;
  }
  return ms;
});

export const nonEmpty = z.string().min(1, "must not be empty");
export const regexMap = z.record(z.string().min(1), nonEmpty);
const NAME_RE = /^[A-Za-z0-9_.-]+$/;

export const listenerTls = z.strictObject({
  cert: nonEmpty,
  key: nonEmpty,
  ca: nonEmpty.optional(),
  /** More certificates, chosen by the client's SNI name (names read from each certificate). */
  sni: z.array(z.strictObject({ cert: nonEmpty, key: nonEmpty })).optional(),
});
export const clientTls = z.union([
  z.literal(true),
  z.strictObject({
    ca: nonEmpty.optional(),
    cert: nonEmpty.optional(),
    key: nonEmpty.optional(),
    servername: nonEmpty.optional(),
    verify: z.boolean().optional(),
  }),
]);
export type RawClientTls = z.output<typeof clientTls>;

/** Keys every listener has; a protocol adds its own (ProtocolConfigSpec.listenerShape). */
export const listenerCommon = {
  name: z.string().regex(NAME_RE, "use letters, digits, _ . -"),
  protocol: nonEmpty,
  listen: nonEmpty,
  tls: listenerTls.optional(),
};

/** Keys every route has; a protocol adds its own (ProtocolConfigSpec.routeShape). */
/**
 * A route's name is free text, but it becomes a metrics label and a log field: no control
 * character (NUL separates the parts of a series' key in metrics-series.ts).
 */
const routeName = nonEmpty.regex(/^[^\u0000-\u001f\u007f-\u009f]+$/, "must not hold control characters");

export const routeCommon = {
  name: routeName.optional(),
  listener: nonEmpty,
  pool: nonEmpty.optional(),
};

const server = z.strictObject({
  address: nonEmpty,
  weight: z.number().int().min(1).max(256).optional(),
  max_sessions: z.number().int().min(0).optional(),
  backup: z.boolean().optional(),
  tls: clientTls.optional(),
  agent_addr: nonEmpty.optional(),
  /** FreeSWITCH's event socket on a SIP server: HEARTBEATs report its load (health/esl/). */
  esl: z
    .strictObject({
      host: nonEmpty.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      password: nonEmpty.optional(),
      /** No HEARTBEAT for this long: down (3 of FreeSWITCH's default 20 s event-heartbeat-interval). */
      heartbeat_timeout: duration.optional(),
    })
    .optional(),
});

const healthCheck = z.union([
  z.literal("tcp"),
  z.literal("sip-options"),
  /** SIP pools: the ping's transport named, where the listeners do not say one. */
  z.strictObject({ "sip-options": z.enum(["udp", "tcp", "tls"]) }),
  z.strictObject({ tcp: z.literal(true) }),
  z.strictObject({ agent: z.number().int().min(1).max(65535), send: z.string().optional() }),
  /** HTTP pools: GET this path; the status must be `expect` (default: any 2xx or 3xx). */
  z.strictObject({
    http: z.string().regex(/^\/[\x21-\x7e]*$/, "a path starting with /, no spaces"),
    expect: z.number().int().min(100).max(599).optional(),
  }),
]);

const health = z.strictObject({
  interval: duration.optional(),
  timeout: duration.optional(),
  rise: z.number().int().min(1).max(100).optional(),
  fall: z.number().int().min(1).max(100).optional(),
  checks: z.array(healthCheck).min(1, "list at least one check"),
});

export const poolSchema = z.strictObject({
  balance: z.enum(["least-sessions", "round-robin", "failover", "hash"]).optional(),
  hash_key: nonEmpty.optional(),
  connect_timeout: duration.optional(),
  total_timeout: duration.optional(),
  max_fails: z.number().int().min(0).optional(),
  fail_timeout: duration.optional(),
  servers: z.array(server).min(1, "a pool needs at least one server"),
  health: health.optional(),
  /** SIP pools: final responses to an initial INVITE that send it to the next server. */
  failover_codes: z.array(z.number().int().min(300).max(699)).optional(),
  /** SIP pools: no provisional reply within this and the INVITE goes to the next server. */
  invite_timeout: duration.optional(),
  /** SIP: no final answer this long after the last provisional one (Timer C, 181 s): CANCEL, 408. */
  ring_timeout: duration.optional(),
});
export type RawPool = z.output<typeof poolSchema>;

/** A listener or route before its protocol's keys are checked: an object, checked later. */
const item = z.record(z.string(), z.unknown());

/** `config.etcd`: etcd as a second config source (config/providers/etcd/). */
export const etcdSchema = z.strictObject({
  endpoints: z
    .array(z.string().regex(/^https?:\/\/[^/]+\/?$/, "use http://host:port or https://host:port"))
    .min(1),
  prefix: z
    .string()
    .regex(/^\/.*\/$/, 'start and end with "/", e.g. /trunkline/')
    .optional(),
  gogeta: z
    .strictObject({
      domains: z.string().regex(/^\//, 'start with "/"').optional(),
      services: z.string().regex(/^\//, 'start with "/"').optional(),
      listener: nonEmpty.optional(),
    })
    .optional(),
  tls: z
    .strictObject({ ca: nonEmpty.optional(), cert: nonEmpty.optional(), key: nonEmpty.optional() })
    .optional(),
  user: nonEmpty.optional(),
  password: nonEmpty.optional(),
  cache: nonEmpty.optional(),
});
export type RawEtcd = z.output<typeof etcdSchema>;

export const configSchema = z.strictObject({
  config: z.strictObject({ etcd: etcdSchema.optional() }).optional(),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error"]).optional(),
      syslog: nonEmpty.optional(),
      syslog_facility: nonEmpty.optional(),
    })
    .optional(),
  shutdown_timeout: duration.optional(),
  /** Threads that run the listeners: `auto` = one per core; 1 (the default) = one thread. */
  workers: z.union([z.literal("auto"), z.int().min(1).max(64)]).optional(),
  admin: z
    .strictObject({
      listen: nonEmpty,
      token_file: nonEmpty.optional(),
    })
    .optional(),
  listeners: z.array(item).min(1, "define at least one listener"),
  /** Optional only when etcd is a source (checked in load.ts): its routes come from there. */
  routes: z.array(item).optional(),
  pools: z.record(z.string().regex(NAME_RE, "use letters, digits, _ . -"), poolSchema).optional(),
});

export type RawConfig = z.output<typeof configSchema>;

/** zod issues as config issues under `prefix`, unknown keys named as such. */
export function zodIssues(
  error: z.ZodError,
  prefix: readonly (string | number)[] = [],
): { path: (string | number)[]; message: string }[] {
  return error.issues.map((i) => {
    const path = [...prefix, ...i.path.filter((s): s is string | number => typeof s !== "symbol")];
    let message = i.message;
    if (i.code === "unrecognized_keys")
      message = `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    return { path, message };
  });
}
