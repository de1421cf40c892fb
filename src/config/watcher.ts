import { type ErrorCode, ErrorCodes, errorCode, errorMessage, type TrunklineError } from "../core/errors.ts";
import type { ConfigProvider, RawSource } from "./providers/types.ts";
import type { Snapshot } from "./types.ts";

export type ReloadResult =
  | { kind: "applied"; snapshot: Snapshot }
  | { kind: "unchanged" }
  | { kind: "rejected"; error: string; code: ErrorCode };

export interface WatcherOptions {
  readonly provider: ConfigProvider;
  /** Validates a raw config into a snapshot; throws a ConfigError listing every problem. */
  readonly parse: (raw: RawSource) => Snapshot;
  /** Swaps the snapshot in whole; returns an error message and changes nothing if it cannot. */
  readonly apply: (s: Snapshot) => Promise<TrunklineError | undefined>;
  readonly onResult: (r: ReloadResult, reason: string) => void;
  readonly debounceMs?: number;
}

/**
 * The one path from a config source to the running proxy: a source
 * says "changed" (a file event, SIGHUP, later etcd), the watcher reads the whole config,
 * drops it if identical to the running one, validates it and hands it to `apply`. Reloads
 * never overlap; the last good config stays when one fails.
 */
export class ConfigWatcher {
  readonly #o: WatcherOptions;
  readonly #debounceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #current: Snapshot | undefined;

  constructor(opts: WatcherOptions) {
    this.#o = opts;
    this.#debounceMs = opts.debounceMs ?? 250;
  }

  /** Reads and validates the first config (throws a ConfigError); the caller starts it. */
  async initial(): Promise<Snapshot> {
    const s = this.#o.parse(await this.#o.provider.read());
    return s;
  }

  /** The snapshot now running; sources follow the files it names. */
  adopt(s: Snapshot): void {
    this.#current = s;
    this.#o.provider.follow(s);
  }

  watch(): void {
    this.#o.provider.watch((reason) => this.#schedule(reason));
  }

  #schedule(reason: string): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload(reason);
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** Reads, validates and applies now; resolves with what happened, never rejects. */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.#running.then(async (): Promise<ReloadResult> => {
      let r: ReloadResult;
      try {
        const s = this.#o.parse(await this.#o.provider.read());
        if (s.digest === this.#current?.digest) r = { kind: "unchanged" };
        else {
          const err = await this.#o.apply(s);
          if (err !== undefined) r = { kind: "rejected", error: err.message, code: err.code };
          else {
            this.adopt(s);
            r = { kind: "applied", snapshot: s };
          }
        }
      } catch (err) {
        r = { kind: "rejected", error: errorMessage(err), code: errorCode(err, ErrorCodes.CONFIG_INVALID) };
      }
      this.#o.onResult(r, reason);
      return r;
    });
    this.#running = next.catch(() => {});
    return next;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#o.provider.close();
  }
}
