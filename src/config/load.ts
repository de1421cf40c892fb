import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { type ErrorCode, ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import { configSchema, zodIssues } from "./schema.ts";
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
  const lineCounter = new LineCounter();
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
  const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = configSchema.safeParse(data);
  const problem = (path: ConfigPath, message: string): ConfigProblem => {
    const pos = at(locate(doc, path));
    return { file, line: pos.line, col: pos.col, path: pathText(path), message };
  };
  if (!parsed.success) {
    const issues = [...zodIssues(parsed.error), ...itemIssues(data, file, protocols)];
    throw new ConfigError(issues.map((i) => problem(i.path, i.message)));
  }
  const built = buildSnapshot(parsed.data, file, text, protocols);
  if (!built.ok) throw new ConfigError(built.issues.map((i) => problem(i.path, i.message)));
  return built.snapshot;
}

/** Reads the file's text; a file that cannot be read is one E_CONFIG_READ problem at 1:1. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      [{ file, line: 1, col: 1, path: "", message: `cannot read config: ${errorMessage(err)}` }],
      ErrorCodes.CONFIG_READ,
    );
  }
}
