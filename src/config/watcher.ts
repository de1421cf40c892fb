import { type FSWatcher, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { errorMessage } from "../core/errors.ts";
import { loadConfigFile } from "./load.ts";
import type { Snapshot } from "./types.ts";

export type ReloadResult =
  | { kind: "applied"; snapshot: Snapshot }
  | { kind: "unchanged" }
  | { kind: "rejected"; error: string };

/**
 * Watches the config file's folder (editors replace files rather than write them, so
 * watching the file itself loses track after the first save) and the folders of the files
 * it references. Changes are debounced; one path loads, validates and hands a complete
 * snapshot to `apply`, and SIGHUP takes the same path with `force`.
 */
export class ConfigWatcher {
  readonly #file: string;
  readonly #apply: (s: Snapshot, reason: string) => Promise<ReloadResult>;
  readonly #debounceMs: number;
  readonly #onResult: (r: ReloadResult, reason: string) => void;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(
    file: string,
    apply: (s: Snapshot, reason: string) => Promise<ReloadResult>,
    onResult: (r: ReloadResult, reason: string) => void,
    debounceMs = 250,
  ) {
    this.#file = resolve(file);
    this.#apply = apply;
    this.#onResult = onResult;
    this.#debounceMs = debounceMs;
  }

  /** (Re)starts watching the folders of the config and of the files it names. */
  watch(s: Snapshot | undefined): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    const dirs = new Set([dirname(this.#file)]);
    if (s) {
      for (const l of s.listeners)
        if (l.tls)
          for (const f of [l.tls.certFile, l.tls.keyFile, l.tls.caFile])
            if (f) dirs.add(dirname(resolve(dirname(this.#file), f)));
      for (const r of s.routes) if (r.script) dirs.add(dirname(r.script.file));
    }
    const name = basename(this.#file);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, changed) => {
          // In the config's own folder only the config matters; other folders hold certs or scripts.
          if (
            dir === dirname(this.#file) &&
            changed !== null &&
            changed !== name &&
            !String(changed).match(/\.(pem|key|crt|mjs|js)$/)
          )
            return;
          this.#schedule("file changed");
        });
        w.on("error", () => {});
        this.#watchers.push(w);
      } catch {
        // A folder that cannot be watched is not fatal: SIGHUP still reloads.
      }
    }
  }

  #schedule(reason: string): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload(reason);
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** Loads the file and applies it; reloads never overlap. */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.#running.then(async (): Promise<ReloadResult> => {
      let r: ReloadResult;
      try {
        r = await this.#apply(loadConfigFile(this.#file), reason);
      } catch (err) {
        r = { kind: "rejected", error: errorMessage(err) };
      }
      this.#onResult(r, reason);
      return r;
    });
    this.#running = next.catch(() => {});
    return next;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}
