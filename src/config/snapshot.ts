import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { createSecureContext } from "node:tls";
import { formatHostPort, type HostPort, parseHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { FACILITIES, parseSyslogTarget } from "../observe/syslog-format.ts";
import type { RawConfig } from "./schema.ts";
import type {
  HealthCheckConfig,
  ListenerConfig,
  PoolConfig,
  RouteConfig,
  RouteTarget,
  ServerConfig,
  Snapshot,
  TlsClientConfig,
  TlsServerConfig,
} from "./types.ts";

export type ConfigPath = readonly (string | number)[];
export interface ConfigIssue {
  readonly path: ConfigPath;
  readonly message: string;
}

export const FASTAGI_PORT = 4573;
/** A template, not a JS template literal: the caller's number keeps a caller on one server. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Trunkline template string
const DEFAULT_HASH_KEY = "${agi_callerid}";
const DEFAULTS = {
  hangupGraceMs: 30_000,
  headerTimeoutMs: 5_000,
  connectTimeoutMs: 1_000,
  totalTimeoutMs: 3_000,
  maxFails: 3,
  failTimeoutMs: 10_000,
  scriptTimeoutMs: 500,
  healthIntervalMs: 2_000,
  healthTimeoutMs: 1_000,
  rise: 2,
  fall: 3,
} as const;

/** Deep-freezes plain objects, arrays and maps so no component can mutate a snapshot. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (Buffer.isBuffer(value) || value instanceof RegExp) return value;
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
    Object.freeze(value);
    return value;
  }
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}

/** Parses `agi://host[:port][/path][?query]` as a route target. */
export function parseAgiUrl(input: string): { address: HostPort; pathAndQuery: string | undefined } | string {
  const m = /^agi:\/\/([^/?#]+)([/?][^#]*)?$/i.exec(input);
  if (!m) return `"${input}" is not an agi://host[:port][/path] URL`;
  const hp = parseHostPort(m[1] as string, FASTAGI_PORT);
  if (typeof hp === "string") return hp;
  const rest = m[2];
  return { address: hp, pathAndQuery: rest === undefined || rest === "" ? undefined : rest };
}

/** Named groups referenced as $<name> in a rewrite template. */
function templateGroups(template: string): string[] {
  return [...template.matchAll(/\$<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1] as string);
}

export function buildSnapshot(
  raw: RawConfig,
  source: string,
  text = "",
): { ok: true; snapshot: Snapshot } | { ok: false; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const baseDir = source === "<inline>" ? process.cwd() : dirname(resolve(source));
  const fail = (path: ConfigPath, message: string): undefined => {
    issues.push({ path, message });
    return undefined;
  };
  const readPem = (path: ConfigPath, file: string): Buffer | undefined => {
    const full = isAbsolute(file) ? file : resolve(baseDir, file);
    try {
      return readFileSync(full);
    } catch (err) {
      return fail(path, `cannot read ${full}: ${errorMessage(err)}`);
    }
  };
  const regex = (path: ConfigPath, src: string): RegExp | undefined => {
    try {
      return new RegExp(src);
    } catch (err) {
      return fail(path, `invalid regular expression: ${errorMessage(err)}`);
    }
  };
  /** A key that does not match its certificate, or PEM that is not PEM, fails here, once. */
  const checkTls = (path: ConfigPath, material: { cert?: Buffer; key?: Buffer; ca?: Buffer }): void => {
    try {
      createSecureContext(material);
    } catch (err) {
      fail(path, `TLS material does not load: ${errorMessage(err)}`);
    }
  };
  const clientTls = (
    path: ConfigPath,
    t: NonNullable<RawConfig["pools"]>[string]["servers"][number]["tls"],
  ) => {
    if (t === undefined) return undefined;
    if (t === true)
      return { ca: undefined, cert: undefined, key: undefined, servername: undefined, verify: true };
    if ((t.cert === undefined) !== (t.key === undefined)) fail(path, "give both cert and key, or neither");
    const out: TlsClientConfig = {
      ca: t.ca === undefined ? undefined : readPem([...path, "ca"], t.ca),
      cert: t.cert === undefined ? undefined : readPem([...path, "cert"], t.cert),
      key: t.key === undefined ? undefined : readPem([...path, "key"], t.key),
      servername: t.servername,
      verify: t.verify ?? true,
    };
    checkTls(path, {
      ...(out.ca ? { ca: out.ca } : {}),
      ...(out.cert ? { cert: out.cert } : {}),
      ...(out.key ? { key: out.key } : {}),
    });
    return out;
  };

  // log
  let syslog: Snapshot["log"]["syslog"];
  if (raw.log?.syslog !== undefined) {
    const t = parseSyslogTarget(raw.log.syslog);
    if (typeof t === "string") fail(["log", "syslog"], t);
    else syslog = t;
  }
  const facilityName = raw.log?.syslog_facility ?? "local0";
  const facility = FACILITIES[facilityName];
  if (facility === undefined) {
    fail(
      ["log", "syslog_facility"],
      `unknown facility "${facilityName}" (${Object.keys(FACILITIES).join(", ")})`,
    );
  }

  // listeners
  const listeners: ListenerConfig[] = [];
  const listenerNames = new Set<string>();
  const listenAddrs = new Set<string>();
  raw.listeners.forEach((l, i) => {
    const path = ["listeners", i];
    if (listenerNames.has(l.name)) fail([...path, "name"], `duplicate listener name "${l.name}"`);
    listenerNames.add(l.name);
    const hp = parseHostPort(l.listen, FASTAGI_PORT);
    if (typeof hp === "string") {
      fail([...path, "listen"], hp);
      return;
    }
    const key = formatHostPort(hp);
    if (listenAddrs.has(key)) fail([...path, "listen"], `${key} is already used by another listener`);
    listenAddrs.add(key);
    let tls: TlsServerConfig | undefined;
    if (l.tls !== undefined) {
      const cert = readPem([...path, "tls", "cert"], l.tls.cert);
      const key = readPem([...path, "tls", "key"], l.tls.key);
      const ca = l.tls.ca === undefined ? undefined : readPem([...path, "tls", "ca"], l.tls.ca);
      if (cert && key) {
        checkTls([...path, "tls"], { cert, key, ...(ca ? { ca } : {}) });
        tls = { certFile: l.tls.cert, keyFile: l.tls.key, caFile: l.tls.ca, cert, key, ca };
      }
    }
    listeners.push({
      name: l.name,
      protocol: l.protocol,
      listen: hp,
      tls,
      forwardedFor: l.forwarded_for ?? false,
      hangupGraceMs: l.hangup_grace ?? DEFAULTS.hangupGraceMs,
      headerTimeoutMs: l.header_timeout ?? DEFAULTS.headerTimeoutMs,
      stallTimeoutMs: l.stall_timeout ?? 30_000,
    });
  });

  // pools
  const pools = new Map<string, PoolConfig>();
  for (const [name, p] of Object.entries(raw.pools ?? {})) {
    const path = ["pools", name];
    const servers: ServerConfig[] = [];
    const keys = new Set<string>();
    p.servers.forEach((s, i) => {
      const sp = [...path, "servers", i];
      const hp = parseHostPort(s.address, FASTAGI_PORT);
      if (typeof hp === "string") {
        fail([...sp, "address"], hp);
        return;
      }
      const key = formatHostPort(hp);
      if (keys.has(key)) fail([...sp, "address"], `${key} is listed twice in pool "${name}"`);
      keys.add(key);
      servers.push({
        key,
        address: hp,
        weight: s.weight ?? 1,
        maxSessions: s.max_sessions ?? 0,
        backup: s.backup ?? false,
        tls: clientTls([...sp, "tls"], s.tls),
        agentAddress: s.agent_addr,
      });
    });
    let health: PoolConfig["health"];
    if (p.health !== undefined) {
      const checks: HealthCheckConfig[] = p.health.checks.map((c) =>
        c === "tcp" || "tcp" in c ? { kind: "tcp" } : { kind: "agent", port: c.agent, send: c.send },
      );
      const intervalMs = p.health.interval ?? DEFAULTS.healthIntervalMs;
      const timeoutMs = p.health.timeout ?? DEFAULTS.healthTimeoutMs;
      if (intervalMs < 100) fail([...path, "health", "interval"], "must be at least 100ms");
      health = {
        intervalMs,
        timeoutMs,
        rise: p.health.rise ?? DEFAULTS.rise,
        fall: p.health.fall ?? DEFAULTS.fall,
        checks,
      };
    }
    const balance = p.balance ?? "least-sessions";
    if (p.hash_key !== undefined && balance !== "hash") {
      fail([...path, "hash_key"], `hash_key only applies to balance: hash (this pool uses ${balance})`);
    }
    pools.set(name, {
      name,
      balance,
      hashKey: p.hash_key ?? DEFAULT_HASH_KEY,
      connectTimeoutMs: p.connect_timeout ?? DEFAULTS.connectTimeoutMs,
      totalTimeoutMs: p.total_timeout ?? DEFAULTS.totalTimeoutMs,
      maxFails: p.max_fails ?? DEFAULTS.maxFails,
      failTimeoutMs: p.fail_timeout ?? DEFAULTS.failTimeoutMs,
      servers,
      health,
    });
  }

  // routes
  const routes: RouteConfig[] = [];
  const scriptBytes: Buffer[] = [];
  raw.routes.forEach((r, i) => {
    const path = ["routes", i];
    if (!listenerNames.has(r.listener)) fail([...path, "listener"], `no listener named "${r.listener}"`);
    const actions = [r.pool, r.to, r.script].filter((x) => x !== undefined).length;
    if (actions > 1 || (actions === 0 && !r.reinject)) fail(path, "give exactly one of pool, to or script");
    if (r.pool !== undefined && !pools.has(r.pool)) fail([...path, "pool"], `no pool named "${r.pool}"`);
    const pathRe = r.match?.path === undefined ? undefined : regex([...path, "match", "path"], r.match.path);
    const query = Object.entries(r.match?.query ?? {}).flatMap(([k, v]) => {
      const re = regex([...path, "match", "query", k], v);
      return re ? [[k, re] as const] : [];
    });
    const header = Object.entries(r.match?.header ?? {}).flatMap(([k, v]) => {
      const re = regex([...path, "match", "header", k], v);
      return re ? [[k, re] as const] : [];
    });
    if (r.rewrite !== undefined) {
      if (!r.rewrite.startsWith("/")) fail([...path, "rewrite"], "a rewrite must start with /");
      for (const g of templateGroups(r.rewrite)) {
        if (!pathRe || !new RegExp(`\\(\\?<${g}>`).test(pathRe.source)) {
          fail([...path, "rewrite"], `$<${g}> names no group of match.path`);
        }
      }
    }
    if (r.reinject && r.rewrite === undefined) fail([...path, "reinject"], "reinject needs a rewrite");
    let to: RouteTarget | undefined;
    if (r.to !== undefined) {
      const u = parseAgiUrl(r.to);
      if (typeof u === "string") fail([...path, "to"], u);
      else
        to = {
          address: u.address,
          authority: formatHostPort(u.address),
          tls: undefined,
          pathAndQuery: u.pathAndQuery,
        };
    }
    let script: RouteConfig["script"];
    if (r.script !== undefined) {
      const hash = r.script.lastIndexOf("#");
      const file = hash > 0 ? r.script.slice(0, hash) : r.script;
      const exportName = hash > 0 ? r.script.slice(hash + 1) : "default";
      const full = isAbsolute(file) ? file : resolve(baseDir, file);
      try {
        scriptBytes.push(readFileSync(full));
        script = { file: full, exportName, timeoutMs: r.script_timeout ?? DEFAULTS.scriptTimeoutMs };
      } catch (err) {
        fail([...path, "script"], `cannot read ${full}: ${errorMessage(err)}`);
      }
    } else if (r.script_timeout !== undefined) {
      fail([...path, "script_timeout"], "script_timeout needs a script");
    }
    routes.push({
      index: i,
      name: r.name ?? `#${i + 1}`,
      listener: r.listener,
      match: { path: pathRe, query, header },
      rewrite: r.rewrite,
      reinject: r.reinject ?? false,
      pool: r.pool,
      to,
      script,
    });
  });

  if (issues.length > 0) return { ok: false, issues };
  // The digest covers what the snapshot was built from, so a reload of identical input is a no-op.
  const digest = createHash("sha256").update(text);
  for (const l of listeners)
    if (l.tls)
      digest
        .update(l.tls.cert)
        .update(l.tls.key)
        .update(l.tls.ca ?? "");
  for (const p of pools.values())
    for (const sv of p.servers)
      if (sv.tls)
        digest
          .update(sv.tls.ca ?? "")
          .update(sv.tls.cert ?? "")
          .update(sv.tls.key ?? "");
  for (const b of scriptBytes) digest.update(b);
  const snapshot: Snapshot = {
    source,
    digest: digest.digest("hex"),
    log: { level: raw.log?.level ?? "info", syslog, syslogFacility: facility ?? 16 },
    shutdownTimeoutMs: raw.shutdown_timeout,
    listeners,
    routes,
    pools,
  };
  return { ok: true, snapshot: deepFreeze(snapshot) };
}
