import { accessSync, constants } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { LineCounter, type Node, parseDocument } from "yaml";
import { errorMessage } from "../../../core/errors.ts";
import { ConfigError, type ConfigProblem } from "../../load.ts";
import { etcdSchema, type RawEtcd } from "../../schema.ts";

/** `config.etcd` of a config text, or undefined (none, or not valid: the file's own check says why). */
export function etcdSettingsOf(text: string): RawEtcd | undefined {
  try {
    const doc = parseDocument(text);
    const raw = (doc.toJS() as { config?: { etcd?: unknown } } | null)?.config?.etcd;
    if (raw === undefined) return undefined;
    const p = etcdSchema.safeParse(raw);
    return p.success ? p.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a config text that parses has no `config.etcd` at all (removed, not broken). */
export function etcdRemoved(text: string): boolean {
  try {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) return false;
    return (doc.toJS() as { config?: { etcd?: unknown } } | null)?.config?.etcd === undefined;
  } catch {
    return false;
  }
}

/**
 * `config.etcd.tls` files that cannot be read, each at its place in the config file: relative
 * names are taken from the config's folder, like every other file the config names.
 */
export function checkEtcdFiles(text: string, file: string, s: RawEtcd): void {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const problems: ConfigProblem[] = [];
  for (const k of ["ca", "cert", "key"] as const) {
    const name = s.tls?.[k];
    if (name === undefined) continue;
    const full = isAbsolute(name) ? name : resolve(dirname(file), name);
    try {
      accessSync(full, constants.R_OK);
    } catch (err) {
      const node = doc.getIn(["config", "etcd", "tls", k], true) as Node | undefined;
      const pos = lineCounter.linePos(node?.range?.[0] ?? 0);
      problems.push({
        file,
        line: pos.line,
        col: pos.col,
        path: `config.etcd.tls.${k}`,
        message: `cannot read ${full}: ${errorMessage(err)}`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
