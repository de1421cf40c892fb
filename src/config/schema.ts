import { z } from "zod";
import { parseDuration } from "../core/duration.ts";

/**
 * The user-facing YAML contract. Strict objects: an unknown key is an error, never ignored.
 * Values are checked here for shape; cross-references (route → pool, regexes, files) are
 * checked in snapshot.ts, which reports them with the same `path: message` form.
 */
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `invalid duration "${v}" (use e.g. 500ms, 2s, 1m)` });
    return z.NEVER;
  }
  return ms;
});

const nonEmpty = z.string().min(1, "must not be empty");
const regexMap = z.record(z.string().min(1), nonEmpty);

const listenerTls = z.strictObject({ cert: nonEmpty, key: nonEmpty, ca: nonEmpty.optional() });
const clientTls = z.union([
  z.literal(true),
  z.strictObject({
    ca: nonEmpty.optional(),
    cert: nonEmpty.optional(),
    key: nonEmpty.optional(),
    servername: nonEmpty.optional(),
    verify: z.boolean().optional(),
  }),
]);

const listener = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . -"),
  protocol: z.literal("fastagi"),
  listen: nonEmpty,
  tls: listenerTls.optional(),
  forwarded_for: z.boolean().optional(),
  hangup_grace: duration.optional(),
  header_timeout: duration.optional(),
  stall_timeout: duration.optional(),
});

const route = z.strictObject({
  name: nonEmpty.optional(),
  listener: nonEmpty,
  match: z
    .strictObject({ path: nonEmpty.optional(), query: regexMap.optional(), header: regexMap.optional() })
    .optional(),
  rewrite: nonEmpty.optional(),
  reinject: z.boolean().optional(),
  pool: nonEmpty.optional(),
  to: nonEmpty.optional(),
  script: nonEmpty.optional(),
  script_timeout: duration.optional(),
});

const server = z.strictObject({
  address: nonEmpty,
  weight: z.number().int().min(1).max(256).optional(),
  max_sessions: z.number().int().min(0).optional(),
  backup: z.boolean().optional(),
  tls: clientTls.optional(),
  agent_addr: nonEmpty.optional(),
});

const healthCheck = z.union([
  z.literal("tcp"),
  z.strictObject({ tcp: z.literal(true) }),
  z.strictObject({ agent: z.number().int().min(1).max(65535), send: z.string().optional() }),
]);

const health = z.strictObject({
  interval: duration.optional(),
  timeout: duration.optional(),
  rise: z.number().int().min(1).max(100).optional(),
  fall: z.number().int().min(1).max(100).optional(),
  checks: z.array(healthCheck).min(1, "list at least one check"),
});

const pool = z.strictObject({
  balance: z.enum(["least-sessions", "round-robin", "failover", "hash"]).optional(),
  hash_key: nonEmpty.optional(),
  connect_timeout: duration.optional(),
  total_timeout: duration.optional(),
  max_fails: z.number().int().min(0).optional(),
  fail_timeout: duration.optional(),
  servers: z.array(server).min(1, "a pool needs at least one server"),
  health: health.optional(),
});

export const configSchema = z.strictObject({
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error"]).optional(),
      syslog: nonEmpty.optional(),
      syslog_facility: nonEmpty.optional(),
    })
    .optional(),
  shutdown_timeout: duration.optional(),
  listeners: z.array(listener).min(1, "define at least one listener"),
  routes: z.array(route).min(1, "define at least one route"),
  pools: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . -"), pool).optional(),
});

export type RawConfig = z.output<typeof configSchema>;
