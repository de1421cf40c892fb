import { accessSync, constants } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { type Document, LineCounter, type Node, parseDocument } from "yaml";
import { errorMessage } from "../../../core/errors.ts";
import { ConfigError, type ConfigProblem } from "../../load.ts";
import { etcdSchema, type RawEtcd } from "../../schema.ts";

/**
 * A config text parsed once for the provider's look-ups (its `config.etcd`, where its files
 * are named, its first http listener), however many of them a read makes. The config's own
 * validation parses it again, with every check, and reports what is wrong.
 */
export interface ConfigText {
  readonly doc: Document;
  readonly lineCounter: LineCounter;
  /** The text as data; undefined when the YAML does not parse. */
  readonly data: { config?: { etcd?: unknown } } | null | undefined;
}

export function parseConfigDoc(text: string): ConfigText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  let data: ConfigText["data"];
  try {
    data = doc.errors.length > 0 ? undefined : (doc.toJS() as ConfigText["data"]);
  } catch {
    data = undefined;
  }
  return { doc, lineCounter, data };
}

/** `config.etcd` of a config text, or undefined (none, or not valid: the file's own check says why). */
export function etcdSettingsOf(c: ConfigText): RawEtcd | undefined {
  const raw = c.data?.config?.etcd;
  if (raw === undefined) return undefined;
  const p = etcdSchema.safeParse(raw);
  return p.success ? p.data : undefined;
}

/** Whether a config text that parses has no `config.etcd` at all (removed, not broken). */
export function etcdRemoved(c: ConfigText): boolean {
  return c.data !== undefined && c.data?.config?.etcd === undefined;
}

/**
 * `config.etcd.tls` files that cannot be read, each at its place in the config file: relative
 * names are taken from the config's folder, like every other file the config names.
 */
export function checkEtcdFiles(c: ConfigText, file: string, s: RawEtcd): void {
  const { doc, lineCounter } = c;
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
