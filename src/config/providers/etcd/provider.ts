import { accessSync, constants } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Etcd3 } from "etcd3";
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { errorMessage } from "../../../core/errors.ts";
import { ConfigError, type ConfigProblem } from "../../load.ts";
import { etcdSchema, type RawEtcd } from "../../schema.ts";
import type { Snapshot } from "../../types.ts";
import type { FileProvider } from "../file.ts";
import type { ConfigProvider, Overlay, RawSource } from "../types.ts";
import { type CachedContent, readCache, writeCache } from "./cache.ts";
import { createEtcdClient } from "./client.ts";
import { gogetaOverlay, joinOverlays } from "./gogeta.ts";
import { EtcdMirror, type MirrorState } from "./mirror.ts";
import { nativeOverlay } from "./native.ts";

/** Where the last good etcd content is kept when `cache:` is not given. */
export const DEFAULT_CACHE = "/var/cache/trunkline/etcd.json";
export const DEFAULT_PREFIX = "/trunkline/";

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

/** The first http listener's name in a config text: gogeta's routes go there by default. */
function firstHttpListener(text: string): string | undefined {
  try {
    const doc = parseDocument(text);
    const ls = doc.get("listeners");
    if (!isSeq(ls)) return undefined;
    for (const l of ls.items)
      if (isMap(l) && l.get("protocol") === "http" && typeof l.get("name") === "string")
        return l.get("name") as string;
  } catch {
    // the file's own validation reports it
  }
  return undefined;
}

export interface EtcdProviderHooks {
  /** The mirror went up or down, or moved to a new revision. */
  onState?(s: MirrorState): void;
  /** Keys outside the config changed (overrides/, proxies/). */
  onOtherKeys?(keys: readonly string[]): void;
  /** The cache could not be written (said once per distinct error). */
  onCacheError?(error: string): void;
}

/**
 * The YAML file plus etcd (Traefik's providers, merged): the file holds listeners, admin
 * and log, etcd adds routes and pools. Each read hands the watcher the file's text and
 * etcd's routes and pools as they are now (from the mirror; from the cache file when etcd
 * has not answered since start), and the watcher validates and swaps the whole as for a
 * file change.
 */
export class EtcdProvider implements ConfigProvider {
  readonly name = "etcd";
  readonly settings: RawEtcd;
  readonly prefix: string;
  readonly cacheFile: string;
  readonly client: Etcd3;
  readonly mirror: EtcdMirror;
  readonly #file: FileProvider;
  readonly #hooks: EtcdProviderHooks;
  #cache: CachedContent | undefined;
  #changed: ((reason: string) => void) | undefined;
  #cacheTimer: NodeJS.Timeout | undefined;
  #cacheError: string | undefined;
  /** The last read's file text and overlay: a change that leaves the overlay as it was is no change. */
  #lastText: string | undefined;
  #lastOverlay: string | undefined;

  constructor(file: FileProvider, settings: RawEtcd, hooks: EtcdProviderHooks = {}) {
    this.#file = file;
    this.settings = settings;
    this.prefix = settings.prefix ?? DEFAULT_PREFIX;
    this.#hooks = hooks;
    const base = dirname(file.file);
    this.cacheFile = settings.cache === undefined ? DEFAULT_CACHE : resolveFrom(base, settings.cache);
    this.client = createEtcdClient(settings, base);
    const prefixes = [this.prefix];
    const g = settings.gogeta;
    if (g) prefixes.push(`${g.domains ?? "/domains"}/`, `${g.services ?? "/services"}/`);
    this.mirror = new EtcdMirror({
      client: this.client,
      prefixes,
      onChange: (keys) => this.#onChange(keys),
      onState: (s) => {
        if (s.up) this.#scheduleCache();
        this.#hooks.onState?.(s);
      },
    });
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
      this.#lastText !== undefined && JSON.stringify(this.overlay(this.#lastText)) === this.#lastOverlay;
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
    const kvs = this.kvs;
    const native = nativeOverlay(kvs, this.prefix);
    const g = this.settings.gogeta;
    if (!g) return native;
    const listener = g.listener ?? firstHttpListener(text);
    const domains = g.domains ?? "/domains";
    if (listener === undefined)
      return joinOverlays(native, {
        routes: [],
        pools: [],
        rejected: [
          {
            key: domains,
            reason: `etcd:${domains} (root): gogeta needs an http listener (none in the file)`,
          },
        ],
      });
    return joinOverlays(
      native,
      gogetaOverlay(kvs, { domains, services: g.services ?? "/services", listener }),
    );
  }

  async read(): Promise<RawSource> {
    const raw = await this.#file.read();
    const overlay = this.overlay(raw.text);
    this.#lastText = raw.text;
    this.#lastOverlay = JSON.stringify(overlay);
    return { ...raw, overlay };
  }

  watch(changed: (reason: string) => void): void {
    this.#changed = changed;
    this.#file.watch(changed);
  }

  follow(snapshot: Snapshot): void {
    this.#file.follow(snapshot);
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
    await this.mirror.close();
    this.client.close();
  }
}

function resolveFrom(base: string, f: string): string {
  return f.startsWith("/") ? f : `${base}/${f}`;
}
