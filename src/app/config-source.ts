import { readConfigText } from "../config/load.ts";
import { checkEtcdFiles, EtcdProvider, etcdSettingsOf } from "../config/providers/etcd/provider.ts";
import { FileProvider } from "../config/providers/file.ts";
import type { ConfigProvider, RejectedKey } from "../config/providers/types.ts";
import type { Log } from "../core/types.ts";
import type { ConfigSourceView } from "../observe/admin/types.ts";

/**
 * What the proxy says about where its config comes from: the file alone, or the file and
 * etcd (up or down, at which revision, from the cache or not) and the etcd keys it ignored.
 * Logs each change of these once.
 */
export class ConfigSourceTracker {
  readonly provider: EtcdProvider | undefined;
  #log: Log | undefined;
  #invalid: readonly RejectedKey[] = [];
  #up: boolean | undefined;
  #pendingCacheError: string | undefined;

  constructor(provider: EtcdProvider | undefined) {
    this.provider = provider;
  }

  /** Logging starts once the first snapshot made a logger; says how the source stands now. */
  attach(log: Log): void {
    this.#log = log;
    const p = this.provider;
    if (!p) return;
    const s = p.mirror.state;
    this.#up = s.up;
    const fields = {
      event: "config_source",
      kind: "etcd",
      endpoints: p.settings.endpoints,
      state: s.up ? "up" : "down",
      revision: p.revision,
    };
    if (s.up) log.info(fields, "etcd config source up");
    else if (p.fromCache)
      log.warn(
        { ...fields, error: s.lastError, cache: p.cacheFile },
        "etcd unreachable at start: serving its cached content; retrying",
      );
    else
      log.warn(
        { ...fields, error: s.lastError, cache: p.cacheFile },
        "etcd unreachable at start and no cache: serving the file alone; retrying",
      );
    for (const r of this.#invalid) this.#logInvalid(r);
    if (this.#pendingCacheError !== undefined) this.cacheError(this.#pendingCacheError);
  }

  get invalid(): readonly RejectedKey[] {
    return this.#invalid;
  }

  /** The rejected keys of the latest read; new ones are logged once, as fixed ones. */
  setInvalid(next: readonly RejectedKey[]): void {
    const before = new Set(this.#invalid.map((r) => r.reason));
    const after = new Set(next.map((r) => r.reason));
    if (this.#log) {
      for (const r of next) if (!before.has(r.reason)) this.#logInvalid(r);
      for (const r of this.#invalid)
        if (!after.has(r.reason) && !next.some((n) => n.key === r.key))
          this.#log.info({ event: "config_invalid_key", key: r.key }, "etcd key no longer ignored");
    }
    this.#invalid = next;
  }

  #logInvalid(r: RejectedKey): void {
    this.#log?.warn(
      { event: "config_invalid_key", key: r.key, reason: r.reason },
      "etcd key ignored: invalid value",
    );
  }

  /** The cache file could not be written: a restart with etcd down would start from the file alone. */
  cacheError(error: string): void {
    if (!this.#log) {
      this.#pendingCacheError = error;
      return;
    }
    this.#log.warn(
      { event: "config_source", kind: "etcd", cache: this.provider?.cacheFile, error },
      "cannot write the etcd cache (set config.etcd.cache to a writable file)",
    );
  }

  /** The mirror went up or down. */
  stateChanged(): void {
    const p = this.provider;
    if (!p || !this.#log) return;
    const s = p.mirror.state;
    if (s.up === this.#up) return;
    this.#up = s.up;
    if (s.up)
      this.#log.info(
        { event: "config_source", kind: "etcd", state: "up", revision: s.revision },
        "etcd config source up",
      );
    else
      this.#log.warn(
        { event: "config_source", kind: "etcd", state: "down", error: s.lastError, revision: s.revision },
        "etcd config source down: keeping the last good config; retrying",
      );
  }

  view(): ConfigSourceView {
    const p = this.provider;
    if (!p)
      return {
        kind: "file",
        endpoints: [],
        prefix: null,
        state: "up",
        revision: null,
        from_cache: false,
        last_error: null,
        invalid_keys: [],
      };
    const s = p.mirror.state;
    return {
      kind: "etcd",
      endpoints: p.settings.endpoints,
      prefix: p.prefix,
      state: s.up ? "up" : "down",
      revision: p.revision,
      from_cache: p.fromCache,
      last_error: s.lastError ?? null,
      invalid_keys: this.#invalid.map((r) => ({ key: r.key, reason: r.reason })),
    };
  }
}

/**
 * The file alone, or the file and etcd when it names `config.etcd`: etcd is read once
 * (or its cache, when it does not answer) before the first config is validated.
 */
export async function configProvider(
  configFile: string,
  hooks: { state(): void; keys(keys: readonly string[]): void; cacheError(error: string): void },
): Promise<ConfigProvider> {
  const file = new FileProvider(configFile);
  let text: string;
  try {
    text = readConfigText(file.file);
  } catch {
    return file;
  }
  const settings = etcdSettingsOf(text);
  if (!settings) return file;
  checkEtcdFiles(text, file.file, settings);
  const etcd = new EtcdProvider(file, settings, {
    onState: () => hooks.state(),
    onOtherKeys: (keys) => hooks.keys(keys),
    onCacheError: (error) => hooks.cacheError(error),
  });
  await etcd.start();
  return etcd;
}
