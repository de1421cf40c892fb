import { readConfigText } from "../config/load.ts";
import {
  checkEtcdFiles,
  EtcdProvider,
  etcdSettingsOf,
  parseConfigDoc,
} from "../config/providers/etcd/provider.ts";
import { FileProvider } from "../config/providers/file.ts";
import type { ConfigProvider, RejectedKey } from "../config/providers/types.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { ConfigSourceView } from "../observe/admin/types.ts";

/** The one method of the event bus the tracker needs. */
export type EmitEvents = Pick<EventBus<TrunklineEvents>, "emit">;

/**
 * What the proxy says about where its config comes from: the file alone, or the file and
 * etcd (up or down, at which revision, from the cache or not) and the etcd keys it ignored.
 * Publishes each change of these once (observe/ makes the log lines).
 */
export class ConfigSourceTracker {
  #provider: EtcdProvider | undefined;
  #events: EmitEvents | undefined;
  #invalid: readonly RejectedKey[] = [];
  #up: boolean | undefined;
  #pendingCacheError: string | undefined;

  constructor(provider: EtcdProvider | undefined) {
    this.#provider = provider;
  }

  /** The etcd provider in use (a reload that changes `config.etcd` replaces it). */
  get provider(): EtcdProvider | undefined {
    return this.#provider;
  }

  /** Events start once the proxy has its bus; says how the source stands now. */
  attach(events: EmitEvents): void {
    this.#events = events;
    const p = this.#provider;
    if (!p) return;
    const s = p.mirror.state;
    this.#up = s.up;
    events.emit("etcd.source", {
      state: s.up ? "up" : "down",
      when: "start",
      endpoints: p.settings.endpoints,
      revision: p.revision,
      ...(s.up ? {} : { cache: p.cacheFile, fromCache: p.fromCache }),
      ...(s.up || s.lastError === undefined ? {} : { error: s.lastError }),
    });
    for (const r of this.#invalid) events.emit("etcd.invalid_key", { key: r.key, reason: r.reason });
    if (this.#pendingCacheError !== undefined) this.cacheError(this.#pendingCacheError);
  }

  get invalid(): readonly RejectedKey[] {
    return this.#invalid;
  }

  /** The rejected keys of the latest read; new ones are said once, as fixed ones. */
  setInvalid(next: readonly RejectedKey[]): void {
    const before = new Set(this.#invalid.map((r) => r.reason));
    const after = new Set(next.map((r) => r.reason));
    const ev = this.#events;
    if (ev) {
      for (const r of next)
        if (!before.has(r.reason)) ev.emit("etcd.invalid_key", { key: r.key, reason: r.reason });
      for (const r of this.#invalid)
        if (!after.has(r.reason) && !next.some((n) => n.key === r.key))
          ev.emit("etcd.invalid_key", { key: r.key });
    }
    this.#invalid = next;
  }

  /** The cache file could not be written: a restart with etcd down would start from the file alone. */
  cacheError(error: string): void {
    if (!this.#events) {
      this.#pendingCacheError = error;
      return;
    }
    this.#pendingCacheError = undefined;
    this.#events.emit("etcd.cache_error", { cache: this.#provider?.cacheFile, error });
  }

  /** A reload changed `config.etcd`: switched to it, or kept the old one (the new cannot read). */
  settingsChanged(e: {
    outcome: "applied" | "kept" | "restart";
    endpoints: readonly string[];
    error?: string;
  }): void {
    this.#events?.emit("etcd.settings", e);
  }

  /** The mirror went up or down. */
  stateChanged(): void {
    const p = this.#provider;
    if (!p || !this.#events) return;
    const s = p.mirror.state;
    if (s.up === this.#up) return;
    this.#up = s.up;
    this.#events.emit("etcd.source", {
      state: s.up ? "up" : "down",
      when: "change",
      endpoints: p.settings.endpoints,
      revision: s.revision,
      ...(s.up || s.lastError === undefined ? {} : { error: s.lastError }),
    });
  }

  view(): ConfigSourceView {
    const p = this.#provider;
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
  hooks: {
    state(): void;
    keys(keys: readonly string[]): void;
    cacheError(error: string): void;
    settings(e: {
      outcome: "applied" | "kept" | "restart";
      endpoints: readonly string[];
      error?: string;
    }): void;
    switched(): Promise<void>;
  },
): Promise<ConfigProvider> {
  const file = new FileProvider(configFile);
  let text: string;
  try {
    text = readConfigText(file.file);
  } catch {
    return file;
  }
  const parsed = parseConfigDoc(text);
  const settings = etcdSettingsOf(parsed);
  if (!settings) return file;
  checkEtcdFiles(parsed, file.file, settings);
  const etcd = new EtcdProvider(file, settings, {
    onState: () => hooks.state(),
    onOtherKeys: (keys) => hooks.keys(keys),
    onCacheError: (error) => hooks.cacheError(error),
    onSettings: (e) => hooks.settings(e),
    onSwitched: () => hooks.switched(),
  });
  await etcd.start();
  return etcd;
}
