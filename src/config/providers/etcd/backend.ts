import type { Etcd3 } from "etcd3";
import type { RawEtcd } from "../../schema.ts";
import { createEtcdClient } from "./client.ts";
import { EtcdMirror, type MirrorState } from "./mirror.ts";

/** Where the last good etcd content is kept when `cache:` is not given. */
export const DEFAULT_CACHE = "/var/cache/trunkline/etcd.json";
export const DEFAULT_PREFIX = "/trunkline/";

/**
 * One `config.etcd` made live: its client and its mirror of the prefixes it names. A reload
 * that changes `config.etcd` builds a second one beside the first and switches only once
 * the new one has read etcd.
 */
export interface EtcdBackend {
  readonly settings: RawEtcd;
  /** The settings as JSON: equal settings, same backend. */
  readonly key: string;
  readonly prefix: string;
  readonly cacheFile: string;
  readonly client: Etcd3;
  readonly mirror: EtcdMirror;
  /** Ends the watch loop and closes the client. */
  close(): Promise<void>;
}

export function createBackend(
  settings: RawEtcd,
  baseDir: string,
  on: {
    change(b: EtcdBackend, keys: readonly string[]): void;
    state(b: EtcdBackend, s: MirrorState): void;
  },
): EtcdBackend {
  const prefix = settings.prefix ?? DEFAULT_PREFIX;
  const client = createEtcdClient(settings, baseDir);
  const prefixes = [prefix];
  const g = settings.gogeta;
  if (g) prefixes.push(`${g.domains ?? "/domains"}/`, `${g.services ?? "/services"}/`);
  const mirror: EtcdMirror = new EtcdMirror({
    client,
    prefixes,
    onChange: (keys) => on.change(b, keys),
    onState: (s) => on.state(b, s),
  });
  const b: EtcdBackend = {
    settings,
    key: JSON.stringify(settings),
    prefix,
    cacheFile:
      settings.cache === undefined
        ? DEFAULT_CACHE
        : settings.cache.startsWith("/")
          ? settings.cache
          : `${baseDir}/${settings.cache}`,
    client,
    mirror,
    async close() {
      await mirror.close();
      client.close();
    },
  };
  return b;
}
