import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MAX_CONFIG_BYTES, readRegularFile } from "../../../core/read-file.ts";

/** The last good etcd content, as the cache file holds it. */
export interface CachedContent {
  readonly revision: number;
  readonly kvs: ReadonlyMap<string, string>;
}

/** The cache, or undefined when there is none or it is not ours (a proxy then starts from the file). */
export function readCache(file: string): CachedContent | undefined {
  let text: string;
  try {
    text = readRegularFile(file, MAX_CONFIG_BYTES * 4).toString("utf8");
  } catch {
    return undefined;
  }
  try {
    const o = JSON.parse(text) as { revision?: unknown; kvs?: unknown };
    if (typeof o.revision !== "number" || o.kvs === null || typeof o.kvs !== "object") return undefined;
    const kvs = new Map<string, string>();
    for (const [k, v] of Object.entries(o.kvs as Record<string, unknown>))
      if (typeof v === "string") kvs.set(k, v);
    return { revision: o.revision, kvs };
  } catch {
    return undefined;
  }
}

/**
 * Writes the cache atomically: a temp file beside it, then rename, so a crash mid-write
 * leaves the previous cache whole, never half of one. Throws when the folder is not writable.
 */
export function writeCache(file: string, content: CachedContent): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const kvs: Record<string, string> = {};
  for (const [k, v] of content.kvs) kvs[k] = v;
  writeFileSync(
    tmp,
    `${JSON.stringify({ revision: content.revision, written_at: new Date().toISOString(), kvs })}\n`,
    {
      mode: 0o600,
    },
  );
  renameSync(tmp, file);
}
