import { type FSWatcher, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { readConfigText } from "../load.ts";
import type { Snapshot } from "../types.ts";
import type { ConfigProvider, RawSource } from "./types.ts";

/**
 * The YAML file. Watches the file's folder (editors replace files rather than write them,
 * so watching the file itself loses track after the first save) and the folders of the
 * files it references.
 */
export class FileProvider implements ConfigProvider {
  readonly name = "file";
  readonly file: string;
  #watchers: FSWatcher[] = [];
  #changed: ((reason: string) => void) | undefined;
  #snapshot: Snapshot | undefined;

  constructor(file: string) {
    this.file = resolve(file);
  }

  async read(): Promise<RawSource> {
    return { text: readConfigText(this.file), origin: this.file };
  }

  watch(changed: (reason: string) => void): void {
    this.#changed = changed;
    this.#rewatch();
  }

  follow(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    if (this.#changed) this.#rewatch();
  }

  #rewatch(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    const own = dirname(this.file);
    const dirs = new Set([own]);
    if (this.#snapshot) for (const f of this.#snapshot.files) dirs.add(dirname(f));
    const name = basename(this.file);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, changed) => {
          // In the config's own folder only the config matters; other folders hold certs or scripts.
          if (
            dir === own &&
            changed !== null &&
            changed !== name &&
            !String(changed).match(/\.(pem|key|crt|mjs|js)$/)
          )
            return;
          this.#changed?.("file changed");
        });
        w.on("error", () => {});
        this.#watchers.push(w);
      } catch {
        // A folder that cannot be watched is not fatal: SIGHUP still reloads.
      }
    }
  }

  close(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    this.#changed = undefined;
  }
}
