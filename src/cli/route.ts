import { loadConfigFile } from "../app/config.ts";
import { buildGeneration } from "../app/runtime.ts";
import { ConfigError } from "../config/load.ts";
import { formatHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { type AgiRequest, fullUrl, networkScript, splitAgiUrl } from "../protocols/fastagi/request.ts";
import { decide } from "../protocols/fastagi/router.ts";
import type { FastAgiRoutes } from "../protocols/fastagi/routes.ts";
import { ServerRegistry } from "../servers/registry.ts";
import { headerPairs, one, parseArgs, UsageError } from "./args.ts";

export const usage = "trunkline route -c FILE URL [--header name=value ...] [--listener NAME]";

/**
 * nodast's test mode: which listener, route and pool a request takes, the request as the
 * server would get it, and the pool's servers in the order they would be tried.
 */
export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, {
      options: ["config", "header", "listener"],
      aliases: { "-c": "config", "-H": "header" },
    });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\nusage: ${usage}\n`);
    return 2;
  }
  const file = one(args, "config");
  const url = args.positionals[0];
  if (!file || !url) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  let snapshot: ReturnType<typeof loadConfigFile>;
  try {
    snapshot = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError)
      for (const line of err.message.split("\n")) process.stderr.write(`${line}\n`);
    else process.stderr.write(`${errorMessage(err)}\n`);
    return 1;
  }
  const parts = splitAgiUrl(url);
  if (!parts || !/^agi:\/\//i.test(url)) {
    process.stderr.write(`not an agi:// URL: ${url}\n`);
    return 2;
  }
  let extra: Record<string, string>;
  try {
    extra = headerPairs(args.options.get("header"));
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n`);
    return 2;
  }
  const wanted = one(args, "listener");
  const port = /:(\d+)$/.exec(parts.origin)?.[1];
  const listener = wanted
    ? snapshot.listeners.find((l) => l.name === wanted)
    : (snapshot.listeners.find((l) => String(l.listen.port) === (port ?? "4573")) ??
      (snapshot.listeners.length === 1 ? snapshot.listeners[0] : undefined));
  if (!listener) {
    process.stderr.write(
      wanted
        ? `no listener named "${wanted}"\n`
        : `no listener for port ${port ?? 4573}; pick one with --listener\n`,
    );
    return 2;
  }
  const vars = new Map<string, string>([
    ["agi_network", "yes"],
    ...(parts.path !== "" ? [["agi_network_script", networkScript(parts)] as [string, string]] : []),
    ["agi_request", url],
    ...Object.entries(extra),
  ]);
  const request: AgiRequest = { ...parts, vars };
  const gen = buildGeneration(snapshot, new ServerRegistry(() => {}));
  try {
    const routes = gen.routes("fastagi") as FastAgiRoutes;
    const d = await decide(routes.table, listener.name, request);
    out(`listener: ${listener.name} (${formatHostPort(listener.listen)}${listener.tls ? ", tls" : ""})`);
    if (d.kind === "none") {
      process.stderr.write(`no route of listener ${listener.name} matches ${url}\n`);
      return 2;
    }
    if (d.kind === "error") {
      if (d.route) out(`route:    ${d.route.name}`);
      process.stderr.write(`routing fails (the session would get FAILURE): ${d.message}\n`);
      return 2;
    }
    out(
      `route:    ${d.route.name}${d.hops > 0 ? ` (after ${d.hops} re-injection${d.hops > 1 ? "s" : ""})` : ""}`,
    );
    const final = d.request;
    const changed = fullUrl(final) !== url;
    out(`request:  agi_request: ${fullUrl(final)}${changed ? "   (rewritten)" : ""}`);
    const script = networkScript(final);
    if (script !== "") out(`          agi_network_script: ${script}`);
    if (d.kind === "target") {
      out(`target:   ${d.target.authority}`);
      out("servers:");
      out(`  1. ${d.target.authority}`);
      return 0;
    }
    const pool = gen.pools.get(d.pool);
    if (!pool) throw new UsageError(`pool ${d.pool} missing`);
    out(`pool:     ${pool.name} (balance: ${pool.config.balance})`);
    const hashKey = pool.config.hashKeyOf(vars);
    if (pool.config.balance === "hash") out(`hash key: ${JSON.stringify(hashKey)}`);
    out("servers (in the order they would be tried):");
    pool.preview(hashKey).forEach((s, i) => {
      const bits = [`weight ${s.config.weight}`];
      if (s.config.maxSessions > 0) bits.push(`max_sessions ${s.config.maxSessions}`);
      if (s.config.tls) bits.push("tls");
      if (s.config.backup) bits.push("backup");
      out(`  ${i + 1}. ${s.key}  (${bits.join(", ")})`);
    });
    return 0;
  } finally {
    for (const r of gen.routers.values()) await r.close();
  }
}
