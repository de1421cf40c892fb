import type { Snapshot } from "../types.ts";

/** One complete configuration as a source holds it, before validation. */
export interface RawSource {
  /** The YAML text. */
  readonly text: string;
  /** Where it came from: a file path (errors are reported against it). */
  readonly origin: string;
  /** Routes and pools from a second source (etcd), merged after the file's. */
  readonly overlay?: Overlay;
}

/** One route or pool of an overlay: the key it came from and its value, already decoded. */
export interface OverlayItem {
  /** The source's own key (an etcd key): problems are reported against it. */
  readonly key: string;
  /** The pool's name, or the route's default name. */
  readonly name: string;
  readonly value: unknown;
}

/** A key of an overlay that was not taken, and why. */
export interface RejectedKey {
  readonly key: string;
  readonly reason: string;
}

/**
 * What a key-value source adds to the file: routes (after the file's, in key order) and
 * pools. Each item stands alone: one that fails validation is rejected with its key and
 * reason, and the rest applies.
 */
export interface Overlay {
  readonly routes: readonly OverlayItem[];
  readonly pools: readonly OverlayItem[];
  /** Keys already refused while decoding (not YAML, not an object…). */
  readonly rejected: readonly RejectedKey[];
}

/**
 * A source of complete configurations (Traefik's providers): the file now, etcd later. It
 * never validates or applies anything: it says "here is the whole config" and the watcher
 * does the rest, the same way for every source.
 */
export interface ConfigProvider {
  /** What to call it in logs and the admin API. */
  readonly name: string;
  /** The whole config now (SIGHUP, start). Throws a ConfigError when it cannot be read. */
  read(): Promise<RawSource>;
  /** Starts telling `changed` when the config may have changed; `follow` re-aims it after a swap. */
  watch(changed: (reason: string) => void): void;
  /** The snapshot now running: a provider may watch the files it names. */
  follow(snapshot: Snapshot): void;
  close(): void;
}
