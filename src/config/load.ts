import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import { configSchema } from "./schema.ts";
import { buildSnapshot, type ConfigPath } from "./snapshot.ts";
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
  constructor(problems: readonly ConfigProblem[]) {
    super(ErrorCodes.CONFIG_INVALID, problems.map(formatProblem).join("\n"));
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
export function parseConfig(text: string, file: string): Snapshot {
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
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const path = i.path.filter((s): s is string | number => typeof s !== "symbol");
        let message = i.message;
        if (i.code === "unrecognized_keys")
          message = `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
        return problem(path, message);
      }),
    );
  }
  const built = buildSnapshot(parsed.data, file, text);
  if (!built.ok) throw new ConfigError(built.issues.map((i) => problem(i.path, i.message)));
  return built.snapshot;
}

export function loadConfigFile(file: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot read config: ${errorMessage(err)}` },
    ]);
  }
  return parseConfig(text, file);
}
