import { loadConfigFile } from "../config/load.ts";
import type { Snapshot } from "../config/types.ts";
import { ConfigWatcher, type ReloadResult } from "../config/watcher.ts";
import type { Log } from "../core/types.ts";
import { HealthMonitor } from "../health/monitor.ts";
import { logServerChange, logSession } from "../observe/events.ts";
import { Runtime } from "./runtime.ts";

export interface ProxyLogging {
  readonly log: Log;
  reconfigure(s: Snapshot): void;
  close(): Promise<void>;
}

export interface ProxyOptions {
  readonly configFile: string;
  /** Builds the logger from the first snapshot. */
  readonly logging: (s: Snapshot) => ProxyLogging;
  readonly watch?: boolean;
}

/**
 * The composition root of `trunkline run`: config → runtime (listeners, pools, routes) →
 * health → watcher. Every reload (file change, SIGHUP) goes through `reload()`: load,
 * validate, swap whole, or keep the running config and say why.
 */
export class TrunklineProxy {
  readonly runtime: Runtime;
  readonly #opts: ProxyOptions;
  readonly #logging: ProxyLogging;
  readonly #log: Log;
  readonly #watcher: ConfigWatcher;
  readonly #health: HealthMonitor;
  #current: Snapshot;

  private constructor(opts: ProxyOptions, snapshot: Snapshot, logging: ProxyLogging) {
    this.#opts = opts;
    this.#current = snapshot;
    this.#logging = logging;
    this.#log = logging.log;
    const log = this.#log;
    this.#health = new HealthMonitor(log);
    this.runtime = new Runtime({
      log,
      onSession: (r) => logSession(log, r),
      onServerChange: (c) => logServerChange(log, c),
      onGeneration: (gen) => this.#health.update(gen.pools),
    });
    this.#watcher = new ConfigWatcher(
      opts.configFile,
      (s) => this.#apply(s),
      (r, reason) => this.#logReload(r, reason),
    );
  }

  get snapshot(): Snapshot {
    return this.#current;
  }

  get log(): Log {
    return this.#log;
  }

  /** Loads the config (throws ConfigError), starts listening (throws on bind errors). */
  static async start(opts: ProxyOptions): Promise<TrunklineProxy> {
    const snapshot = loadConfigFile(opts.configFile);
    const logging = opts.logging(snapshot);
    const p = new TrunklineProxy(opts, snapshot, logging);
    try {
      await p.runtime.start(snapshot);
    } catch (err) {
      await p.runtime.close();
      await logging.close();
      throw err;
    }
    if (opts.watch !== false) p.#watcher.watch(snapshot);
    p.#log.info(
      {
        config: opts.configFile,
        listeners: snapshot.listeners.length,
        routes: snapshot.routes.length,
        pools: snapshot.pools.size,
      },
      "trunkline started",
    );
    return p;
  }

  async #apply(s: Snapshot): Promise<ReloadResult> {
    if (s.digest === this.#current.digest) return { kind: "unchanged" };
    const err = await this.runtime.apply(s);
    if (err) return { kind: "rejected", error: err.message };
    this.#current = s;
    this.#logging.reconfigure(s);
    if (this.#opts.watch !== false) this.#watcher.watch(s);
    return { kind: "applied", snapshot: s };
  }

  /** Reloads from the file now (SIGHUP). Logs the result; never throws. */
  reload(reason: string): Promise<ReloadResult> {
    return this.#watcher.reload(reason);
  }

  #logReload(r: ReloadResult, reason: string): void {
    if (r.kind === "applied")
      this.#log.info({ event: "reload", reason, config: this.#opts.configFile }, "configuration reloaded");
    else if (r.kind === "unchanged") this.#log.info({ event: "reload", reason }, "configuration unchanged");
    else
      this.#log.error(
        { event: "reload", reason, error: r.error },
        "configuration rejected; the running configuration stays",
      );
  }

  /** Stops accepting, waits for sessions until the deadline, then closes what is left. */
  async shutdown(deadline: number): Promise<void> {
    this.#watcher.close();
    this.#health.close();
    await this.runtime.drain(deadline);
    await this.runtime.close();
    this.#log.info({ event: "shutdown" }, "trunkline stopped");
    await this.#logging.close();
  }

  async close(): Promise<void> {
    this.#watcher.close();
    this.#health.close();
    await this.runtime.close();
    await this.#logging.close();
  }
}
