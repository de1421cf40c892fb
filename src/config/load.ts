import { isMap, isSeq, LineCounter, type Node, parseDocument, visit } from "yaml";
import { type ErrorCode, ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import { MAX_CONFIG_BYTES, readRegularFile } from "../core/read-file.ts";
import type { Overlay, RejectedKey } from "./providers/types.ts";
import { configSchema, poolSchema, type RawConfig, type RawPool, zodIssues } from "./schema.ts";
import { buildSnapshot, type ConfigPath, itemIssues } from "./snapshot.ts";
import type { ProtocolConfigSpec } from "./spec.ts";
import type { Snapshot } from "./types.ts";

/** One problem in a config, located in its source. Formats as `file:line:col path: message`. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path === "" ? "(root)" : p.path}: ${p.message}`;
}

export class ConfigError extends TrunklineError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], code: ErrorCode = ErrorCodes.CONFIG_INVALID) {
    super(code, problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

function pathText(path: ConfigPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

/** Finds the deepest YAML node along `path` so an error points at the offending value. */
function locate(doc: ReturnType<typeof parseDocument>, path: ConfigPath): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      offset = valueNode?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

/** Parses and validates YAML text into a frozen snapshot, or throws a ConfigError listing every problem. */
export function parseConfig(text: string, file: string, protocols: readonly ProtocolConfigSpec[]): Snapshot {
  return parseMerged(text, file, protocols, undefined).snapshot;
}

/**
 * The file and an overlay (etcd's routes and pools) into one snapshot. A file problem
 * rejects the whole config (file:line:col); an overlay item with a problem is left out and
 * reported as `etcd:<key> path: message`, and the rest applies.
 */
export function parseMerged(
  text: string,
  file: string,
  protocols: readonly ProtocolConfigSpec[],
  overlay: Overlay | undefined,
): { snapshot: Snapshot; rejected: RejectedKey[] } {
  const lineCounter = new LineCounter();
  const tooDeep = flowDepthOver(text, MAX_FLOW_DEPTH);
  if (tooDeep !== undefined) {
    const before = text.slice(0, tooDeep);
    const line = before.split("\n").length;
    const col = tooDeep - before.lastIndexOf("\n");
    const message = `[ and { nested deeper than ${MAX_FLOW_DEPTH} levels`;
    throw new ConfigError([{ file, line, col, path: "", message }]);
  }
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = at(e.pos[0]);
        return {
          file,
          line: pos.line,
          col: pos.col,
          path: "",
          message: e.message.split("\n")[0] ?? e.message,
        };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // An alias bomb ("billion laughs"): refused at its first alias, located like any problem.
    let offset = 0;
    visit(doc, {
      Alias(_, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const pos = at(offset);
    throw new ConfigError([
      { file, line: pos.line, col: pos.col, path: "", message: errorMessage(err).split("\n")[0] ?? "" },
    ]);
  }
  const parsed = configSchema.safeParse(data);
  const problem = (path: ConfigPath, message: string): ConfigProblem => {
    const pos = at(locate(doc, path));
    return { file, line: pos.line, col: pos.col, path: pathText(path), message };
  };
  // Routes may all come from etcd; without it the file must have some.
  const d = data as { routes?: unknown; config?: { etcd?: unknown } } | null;
  const noRoutes =
    d !== null &&
    typeof d === "object" &&
    (d.routes === undefined || (Array.isArray(d.routes) && d.routes.length === 0)) &&
    d.config?.etcd === undefined;
  if (!parsed.success || noRoutes) {
    const issues = [
      ...(parsed.success ? [] : zodIssues(parsed.error)),
      ...(noRoutes ? [{ path: ["routes"], message: "define at least one route" }] : []),
      ...itemIssues(data, file, protocols),
    ];
    throw new ConfigError(issues.map((i) => problem(i.path, i.message)));
  }
  const raw = parsed.data;
  if (overlay === undefined) {
    const built = buildSnapshot(raw, file, text, protocols);
    if (!built.ok) throw new ConfigError(built.issues.map((i) => problem(i.path, i.message)));
    return { snapshot: built.snapshot, rejected: [] };
  }
  return mergeOverlay(raw, text, file, protocols, overlay, (issues) => {
    throw new ConfigError(issues.map((i) => problem(i.path, i.message)));
  });
}

const POOL_NAME = /^[A-Za-z0-9_.-]+$/;

/** Problems in an overlay item's own terms: `etcd:<key> path: message`. */
function rejectedAt(key: string, path: ConfigPath, message: string): RejectedKey {
  const where = pathText(path);
  return { key, reason: `etcd:${key} ${where === "" ? "(root)" : where}: ${message}` };
}

/**
 * Adds the overlay's items to the file's, then builds; an item blamed by the build is left
 * out and the build runs again (at most once per item), so one bad key never hides the rest.
 */
function mergeOverlay(
  raw: RawConfig,
  text: string,
  file: string,
  protocols: readonly ProtocolConfigSpec[],
  overlay: Overlay,
  fileFailed: (issues: readonly { path: ConfigPath; message: string }[]) => never,
): { snapshot: Snapshot; rejected: RejectedKey[] } {
  const rejected: RejectedKey[] = [...overlay.rejected];
  const filePools = raw.pools ?? {};
  const fileRoutes = raw.routes ?? [];
  const routeNames = new Set(fileRoutes.map((r) => r.name).filter((n) => typeof n === "string"));
  const pools = new Map<string, { key: string; pool: RawPool }>();
  for (const item of overlay.pools) {
    if (!POOL_NAME.test(item.name)) {
      rejected.push(rejectedAt(item.key, [], `pool name "${item.name}": use letters, digits, _ . -`));
      continue;
    }
    if (Object.hasOwn(filePools, item.name) || pools.has(item.name)) {
      rejected.push(rejectedAt(item.key, [], `pool "${item.name}" is already defined in ${file}`));
      continue;
    }
    const p = poolSchema.safeParse(item.value);
    if (!p.success) {
      const first = zodIssues(p.error)[0];
      rejected.push(rejectedAt(item.key, first?.path ?? [], first?.message ?? "invalid pool"));
      continue;
    }
    pools.set(item.name, { key: item.key, pool: p.data });
  }
  let routes: { key: string; route: Record<string, unknown> }[] = [];
  for (const item of overlay.routes) {
    const v = item.value;
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      rejected.push(rejectedAt(item.key, [], "a route is an object (listener, match, pool…)"));
      continue;
    }
    const route = { name: item.name, ...(v as Record<string, unknown>) };
    const name = String(route.name);
    if (routeNames.has(name)) {
      rejected.push(rejectedAt(item.key, ["name"], `route "${name}" is already defined`));
      continue;
    }
    routeNames.add(name);
    routes.push({ key: item.key, route });
  }
  const limit = overlay.routes.length + overlay.pools.length + 1;
  for (let round = 0; round <= limit; round++) {
    const merged: RawConfig = {
      ...raw,
      routes: [...fileRoutes, ...routes.map((r) => r.route)],
      pools: { ...filePools, ...Object.fromEntries([...pools].map(([n, p]) => [n, p.pool])) },
    };
    // The digest covers what was taken from the overlay, so an identical re-read is a no-op.
    const digestText = `${text}\n#overlay ${JSON.stringify([routes, [...pools], rejected])}`;
    const built = buildSnapshot(merged, file, digestText, protocols);
    if (built.ok) return { snapshot: built.snapshot, rejected };
    const blamedRoutes = new Set<number>();
    const blamedPools = new Set<string>();
    const fileIssues: { path: ConfigPath; message: string }[] = [];
    for (const is of built.issues) {
      const [section, at] = is.path;
      if (section === "routes" && typeof at === "number" && at >= fileRoutes.length) {
        const r = routes[at - fileRoutes.length];
        if (r && !blamedRoutes.has(at)) rejected.push(rejectedAt(r.key, is.path.slice(2), is.message));
        blamedRoutes.add(at);
      } else if (section === "pools" && typeof at === "string" && pools.has(at)) {
        if (!blamedPools.has(at)) rejected.push(rejectedAt(pools.get(at)!.key, is.path.slice(2), is.message));
        blamedPools.add(at);
      } else fileIssues.push(is);
    }
    if (blamedRoutes.size === 0 && blamedPools.size === 0) fileFailed(fileIssues);
    routes = routes.filter((_, i) => !blamedRoutes.has(i + fileRoutes.length));
    for (const n of blamedPools) pools.delete(n);
  }
  return fileFailed([{ path: [], message: "the overlay did not settle" }]);
}

/** Reads the file's text; a file that cannot be read is one E_CONFIG_READ problem at 1:1. */
export function readConfigText(file: string): string {
  try {
    return readRegularFile(file, MAX_CONFIG_BYTES).toString("utf8");
  } catch (err) {
    throw new ConfigError(
      [{ file, line: 1, col: 1, path: "", message: `cannot read config: ${errorMessage(err)}` }],
      ErrorCodes.CONFIG_READ,
    );
  }
}

/** No config nests flow collections this deep; a file that does is refused before parsing. */
const MAX_FLOW_DEPTH = 64;

/**
 * The offset where `[` and `{` nest deeper than `max` (outside quotes and comments), or
 * undefined. One pass: 100,000 nested brackets made the YAML parser recurse until the stack
 * overflowed, taking over 5 s on a busy machine to say "Maximum call stack size exceeded".
 */
function flowDepthOver(text: string, max: number): number | undefined {
  let depth = 0;
  let quote = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === 0x5c && quote === 0x22) i++;
      else if (c === quote || c === 0x0a) quote = 0;
    } else if (c === 0x22 || c === 0x27) quote = c;
    else if (c === 0x23 && (i === 0 || text.charCodeAt(i - 1) <= 0x20)) {
      const nl = text.indexOf("\n", i);
      if (nl < 0) return undefined;
      i = nl;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return undefined;
}
