import { dirname } from "node:path";
import type { Etcd3 } from "etcd3";
import { errorMessage } from "../../../core/errors.ts";
import type { RawEtcd } from "../../schema.ts";
import type { Snapshot } from "../../types.ts";
import type { FileProvider } from "../file.ts";
import type { ConfigProvider, Overlay, RawSource } from "../types.ts";
import { createBackend, type EtcdBackend } from "./backend.ts";
import { type CachedContent, readCache, writeCache } from "./cache.ts";
import type { EtcdMirror, MirrorState } from "./mirror.ts";
import { overlayOf } from "./overlay.ts";
import { type ConfigText, checkEtcdFiles, etcdRemoved, etcdSettingsOf, parseConfigDoc } from "./settings.ts";

export { DEFAULT_CACHE, DEFAULT_PREFIX } from "./backend.ts";
export { checkEtcdFiles, etcdSettingsOf, parseConfigDoc } from "./settings.ts";

export interface EtcdProviderHooks {
  /** The mirror went up or down, or moved to a new revision. */
  onState?(s: MirrorState): void;
  /** Keys outside the config changed (overrides/, proxies/). */
  onOtherKeys?(keys: readonly string[]): void;
  /** The cache could not be written (said once per distinct error). */
  onCacheError?(error: string): void;
  /** A reload changed `config.etcd`: now in use (applied), or the new etcd could not be read (kept). */
  onSettings?(e: {
    outcome: "applied" | "kept" | "restart";
    endpoints: readonly string[];
    error?: string;
  }): void;
  /** After a switch, before the old client closes: the cluster member moves to the new one. */
  onSwitched?(): Promise<void>;
}

/** A `config.etcd` whose etcd could not be read is tried again by a reload after this. */
const RETRY_REFUSED_MS = 10_000;

/**
 * The YAML file plus etcd (Traefik's providers, merged): the file holds listeners, admin
 * and log, etcd adds routes and pools. Each read hands the watcher the file's text and
 * etcd's routes and pools as they are now (from the mirror; from the cache file when etcd
 * has not answered since start), and the watcher validates and swaps the whole as for a
 * file change. A read that finds `config.etcd` changed reads the new etcd first; the switch
 * happens when that config is adopted, so a rejected reload leaves the old etcd in use.
 */
export class EtcdProvider implements ConfigProvider {
  readonly name = "etcd";
  readonly #file: FileProvider;
  readonly #hooks: EtcdProviderHooks;
  readonly #base: string;
  #b: EtcdBackend;
  /** The next `config.etcd`, read and waiting for its config to be adopted. */
  #candidate: EtcdBackend | undefined;
  #candidateChanged = false;
  #refused: { key: string; at: number } | undefined;
  #removedSaid = false;
  #cache: CachedContent | undefined;
  #changed: ((reason: string) => void) | undefined;
  #cacheTimer: NodeJS.Timeout | undefined;
  #cacheError: string | undefined;
  /** The last read's file text and overlay: a change that leaves the overlay as it was is no change. */
  #lastText: ConfigText | undefined;
  #lastOverlay: string | undefined;

  constructor(file: FileProvider, settings: RawEtcd, hooks: EtcdProviderHooks = {}) {
    this.#file = file;
    this.#hooks = hooks;
    this.#base = dirname(file.file);
    this.#b = this.#backend(settings);
  }

  #backend(settings: RawEtcd): EtcdBackend {
    return createBackend(settings, this.#base, {
      change: (b, keys) => {
        if (b === this.#b) this.#onChange(keys);
        else if (b === this.#candidate) this.#candidateChanged = true;
      },
      state: (b, s) => {
        if (b !== this.#b) return;
        if (s.up) this.#scheduleCache();
        this.#hooks.onState?.(s);
      },
    });
  }

  get settings(): RawEtcd {
    return this.#b.settings;
  }
  get prefix(): string {
    return this.#b.prefix;
  }
  get cacheFile(): string {
    return this.#b.cacheFile;
  }
  get client(): Etcd3 {
    return this.#b.client;
  }
  get mirror(): EtcdMirror {
    return this.#b.mirror;
  }

  /** Whether the content comes from the cache: etcd has not answered since start. */
  get fromCache(): boolean {
    return this.mirror.state.revision === 0 && this.#cache !== undefined;
  }

  /** The content in use: etcd's as last read, else the cache's, else nothing. */
  get kvs(): ReadonlyMap<string, string> {
    if (this.mirror.state.revision > 0) return this.mirror.kvs;
    return this.#cache?.kvs ?? new Map();
  }

  /** The etcd revision of the content in use (the cache's when it comes from there). */
  get revision(): number {
    return this.mirror.state.revision || (this.#cache?.revision ?? 0);
  }

  /** Reads etcd once (or, when it does not answer, the cache), then keeps it current. */
  async start(): Promise<void> {
    await this.mirror.start();
    if (this.mirror.state.revision === 0) this.#cache = readCache(this.cacheFile);
  }

  #isConfigKey(k: string): boolean {
    if (k.startsWith(`${this.prefix}routes/`) || k.startsWith(`${this.prefix}pools/`)) return true;
    return !k.startsWith(this.prefix);
  }

  #onChange(keys: readonly string[]): void {
    const config = keys.filter((k) => this.#isConfigKey(k));
    const other = keys.filter((k) => !this.#isConfigKey(k));
    if (other.length > 0) this.#hooks.onOtherKeys?.(other);
    if (other.some((k) => !k.startsWith(`${this.prefix}proxies/`))) this.#scheduleCache();
    if (config.length === 0) return;
    this.#scheduleCache();
    // A heartbeat (gogeta's alive) rewritten with the same meaning changes no route: no reload.
    const same =
      this.#lastText !== undefined &&
      JSON.stringify(overlayOf(this.#lastText, this.#b, this.kvs)) === this.#lastOverlay;
    if (!same) this.#changed?.(`etcd: ${config.length === 1 ? config[0] : `${config.length} keys`} changed`);
  }

  /** After every good read and change, debounced: a burst of puts is one write. */
  #scheduleCache(): void {
    if (this.#cacheTimer) return;
    this.#cacheTimer = setTimeout(() => {
      this.#cacheTimer = undefined;
      const kvs = new Map<string, string>();
      for (const [k, v] of this.mirror.kvs) if (!k.startsWith(`${this.prefix}proxies/`)) kvs.set(k, v);
      try {
        writeCache(this.cacheFile, { revision: this.mirror.state.revision, kvs });
        this.#cacheError = undefined;
      } catch (err) {
        const msg = errorMessage(err);
        if (msg !== this.#cacheError) this.#hooks.onCacheError?.(msg);
        this.#cacheError = msg;
      }
    }, 100);
    this.#cacheTimer.unref();
  }

  /** etcd's routes and pools as an overlay on the file's text. */
  overlay(text: string): Overlay {
    return overlayOf(parseConfigDoc(text), this.#b, this.kvs);
  }

  /**
   * The backend a config text asks for: the one in use, or a new one that has read its etcd
   * (kept as the candidate until that config is adopted). A new one that cannot read is
   * closed and said once; the one in use goes on.
   */
  async #backendFor(text: ConfigText): Promise<EtcdBackend> {
    const next = etcdSettingsOf(text);
    // Invalid settings: the config's own check rejects the reload and says why. Removed: the
    // provider cannot turn into the file alone while running; said once, etcd goes on.
    if (next === undefined) {
      const removed = etcdRemoved(text);
      if (!this.#removedSaid && removed)
        this.#hooks.onSettings?.({
          outcome: "restart",
          endpoints: this.settings.endpoints,
          error: "config.etcd removed",
        });
      this.#removedSaid = removed;
      return this.#b;
    }
    this.#removedSaid = false;
    const key = JSON.stringify(next);
    if (key === this.#b.key) {
      await this.#dropCandidate();
      return this.#b;
    }
    if (this.#candidate?.key === key) return this.#candidate;
    await this.#dropCandidate();
    if (this.#refused?.key === key && Date.now() - this.#refused.at < RETRY_REFUSED_MS) return this.#b;
    checkEtcdFiles(text, this.#file.file, next);
    const b = this.#backend(next);
    this.#candidate = b;
    this.#candidateChanged = false;
    await b.mirror.start();
    if (b.mirror.state.revision > 0 && this.#candidate === b) {
      this.#refused = undefined;
      return b;
    }
    await this.#dropCandidate();
    this.#refused = { key, at: Date.now() };
    this.#hooks.onSettings?.({
      outcome: "kept",
      endpoints: next.endpoints,
      error: b.mirror.state.lastError ?? "no answer",
    });
    return this.#b;
  }

  async #dropCandidate(): Promise<void> {
    const c = this.#candidate;
    this.#candidate = undefined;
    await c?.close();
  }

  async read(): Promise<RawSource> {
    const raw = await this.#file.read();
    const text = parseConfigDoc(raw.text);
    const b = await this.#backendFor(text);
    const overlay = overlayOf(text, b, b === this.#b ? this.kvs : b.mirror.kvs);
    if (b === this.#b) {
      this.#lastText = text;
      this.#lastOverlay = JSON.stringify(overlay);
    }
    return { ...raw, overlay };
  }

  watch(changed: (reason: string) => void): void {
    this.#changed = changed;
    this.#file.watch(changed);
  }

  /** A config was adopted: if it came with a new `config.etcd`, that one is now in use. */
  follow(snapshot: Snapshot): void {
    this.#file.follow(snapshot);
    const c = this.#candidate;
    if (!c) return;
    this.#candidate = undefined;
    const old = this.#b;
    this.#b = c;
    this.#cache = undefined;
    this.#lastText = undefined;
    this.#hooks.onSettings?.({ outcome: "applied", endpoints: c.settings.endpoints });
    this.#hooks.onState?.(c.mirror.state);
    this.#scheduleCache();
    void this.#retire(old);
    if (this.#candidateChanged) this.#changed?.("etcd: changed while switching to the new config.etcd");
  }

  async #retire(old: EtcdBackend): Promise<void> {
    try {
      await this.#hooks.onSwitched?.();
    } finally {
      await old.close();
    }
  }

  /**
   * Stops telling the watcher about changes. The etcd client stays open, so that the cluster
   * member can still revoke its lease on the way out: `closed()` ends the rest.
   */
  close(): void {
    this.#changed = undefined;
    this.#file.close();
  }

  /** Closes, ends the watch loop and closes the client. */
  async closed(): Promise<void> {
    this.close();
    if (this.#cacheTimer) clearTimeout(this.#cacheTimer);
    this.#cacheTimer = undefined;
    await this.#dropCandidate();
    await this.#b.close();
  }
}
