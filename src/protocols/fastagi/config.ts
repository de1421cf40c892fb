import { createHash } from "node:crypto";
import { z } from "zod";
import { duration, nonEmpty, regexMap } from "../../config/schema.ts";
import type { BuildContext, ConfigPath, ProtocolConfigSpec } from "../../config/spec.ts";
import type { RouteConfig } from "../../config/types.ts";
import { compileTemplate } from "./request.ts";
import { FASTAGI_PORT, parseAgiUrl } from "./target.ts";
import type { FastAgiListenerOptions, FastAgiRoute, RouteScript, RouteTarget } from "./types.ts";

const DEFAULTS = {
  hangupGraceMs: 30_000,
  headerTimeoutMs: 5_000,
  scriptTimeoutMs: 500,
  maxPending: 256,
  maxConnections: 10_000,
  stallTimeoutMs: 30_000,
  keepAliveAfterMs: 30_000,
} as const;

/** A template, not a JS template literal: the caller's number keeps a caller on one server. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Trunkline template string
const DEFAULT_HASH_KEY = "${agi_callerid}";

const listenerShape = {
  forwarded_for: z.boolean().optional(),
  hangup_grace: duration.optional(),
  header_timeout: duration.optional(),
  max_pending: z.number().int().min(1).max(65_535).optional(),
  max_connections: z.number().int().min(1).max(1_000_000).optional(),
  stall_timeout: duration.optional(),
  tcp_keepalive_after: duration.optional(),
};

const routeShape = {
  match: z
    .strictObject({ path: nonEmpty.optional(), query: regexMap.optional(), header: regexMap.optional() })
    .optional(),
  rewrite: nonEmpty.optional(),
  reinject: z.boolean().optional(),
  to: nonEmpty.optional(),
  script: nonEmpty.optional(),
  script_timeout: duration.optional(),
};

type RawListener = z.output<z.ZodObject<typeof listenerShape>>;
type RawRoute = z.output<z.ZodObject<typeof routeShape>> & { pool?: string | undefined };

/** Named groups referenced as $<name> in a rewrite template (`$$<x>` is a literal). */
function templateGroups(template: string): string[] {
  return [...template.matchAll(/(?<!\$)(?:\$\$)*\$<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1] as string);
}

function buildListenerOptions(raw: Record<string, unknown>): FastAgiListenerOptions {
  const l = raw as RawListener;
  return {
    forwardedFor: l.forwarded_for ?? false,
    hangupGraceMs: l.hangup_grace ?? DEFAULTS.hangupGraceMs,
    headerTimeoutMs: l.header_timeout ?? DEFAULTS.headerTimeoutMs,
    maxPending: l.max_pending ?? DEFAULTS.maxPending,
    maxConnections: l.max_connections ?? DEFAULTS.maxConnections,
    stallTimeoutMs: l.stall_timeout ?? DEFAULTS.stallTimeoutMs,
    keepAliveAfterMs: l.tcp_keepalive_after ?? DEFAULTS.keepAliveAfterMs,
  };
}

function buildScript(r: RawRoute, path: ConfigPath, ctx: BuildContext): RouteScript | undefined {
  if (r.script === undefined) {
    if (r.script_timeout !== undefined)
      ctx.fail([...path, "script_timeout"], "script_timeout needs a script");
    return undefined;
  }
  const hash = r.script.lastIndexOf("#");
  const file = hash > 0 ? r.script.slice(0, hash) : r.script;
  const exportName = hash > 0 ? r.script.slice(hash + 1) : "default";
  const bytes = ctx.readFile([...path, "script"], file);
  if (!bytes) return undefined;
  return {
    file: ctx.resolve(file),
    exportName,
    timeoutMs: r.script_timeout ?? DEFAULTS.scriptTimeoutMs,
    digest: createHash("sha256").update(bytes).digest("hex"),
  };
}

function buildRoute(
  raw: Record<string, unknown>,
  base: RouteConfig,
  path: ConfigPath,
  ctx: BuildContext,
): FastAgiRoute {
  const r = raw as RawRoute;
  const actions = [r.pool, r.to, r.script].filter((x) => x !== undefined).length;
  if (actions > 1 || (actions === 0 && !r.reinject)) ctx.fail(path, "give exactly one of pool, to or script");
  const pathRe =
    r.match?.path === undefined ? undefined : ctx.regex([...path, "match", "path"], r.match.path);
  const query = Object.entries(r.match?.query ?? {}).flatMap(([k, v]) => {
    const re = ctx.regex([...path, "match", "query", k], v);
    return re ? [[k, re] as const] : [];
  });
  const header = Object.entries(r.match?.header ?? {}).flatMap(([k, v]) => {
    const re = ctx.regex([...path, "match", "header", k], v);
    return re ? [[k, re] as const] : [];
  });
  if (r.rewrite !== undefined) {
    if (!r.rewrite.startsWith("/")) ctx.fail([...path, "rewrite"], "a rewrite must start with /");
    for (const g of templateGroups(r.rewrite)) {
      if (!pathRe || !new RegExp(`\\(\\?<${g}>`).test(pathRe.source)) {
        ctx.fail([...path, "rewrite"], `$<${g}> names no group of match.path`);
      }
    }
  }
  if (r.reinject && r.rewrite === undefined) ctx.fail([...path, "reinject"], "reinject needs a rewrite");
  let to: RouteTarget | undefined;
  if (r.to !== undefined) {
    const u = parseAgiUrl(r.to);
    if (typeof u === "string") ctx.fail([...path, "to"], u);
    else to = u;
  }
  return {
    ...base,
    match: { path: pathRe, query, header },
    rewrite: r.rewrite,
    rewriteTemplate: r.rewrite === undefined ? undefined : compileTemplate(r.rewrite, "url"),
    reinject: r.reinject ?? false,
    to,
    script: buildScript(r, path, ctx),
  };
}

/** FastAGI's config section: its listener and route keys, defaults and builders. */
export const fastagiConfig: ProtocolConfigSpec = {
  name: "fastagi",
  defaultPort: FASTAGI_PORT,
  defaultHashKey: DEFAULT_HASH_KEY,
  listenerShape,
  routeShape,
  buildListenerOptions,
  buildRoute,
  compileHashKey(template) {
    const t = compileTemplate(template, "plain");
    return (vars) => t(null, vars);
  },
};
