import type { Snapshot } from "../types.ts";

/** One complete configuration as a source holds it, before validation. */
export interface RawSource {
  /** The YAML text. */
  readonly text: string;
  /** Where it came from: a file path (errors are reported against it). */
  readonly origin: string;
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
