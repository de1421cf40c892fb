import { parseMerged } from "../config/load.ts";
import { EtcdProvider } from "../config/providers/etcd/provider.ts";
import type { ConfigProvider, RawSource } from "../config/providers/types.ts";
import type { Snapshot } from "../config/types.ts";
import { ConfigWatcher, type ReloadResult } from "../config/watcher.ts";
import { formatHostPort } from "../core/address.ts";
import { ErrorCodes, errorMessage, TrunklineError } from "../core/errors.ts";
import type { Log, RecordFn } from "../core/types.ts";
import { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import { HealthMonitor } from "../health/monitor.ts";
import { dashboardPages } from "../observe/admin/dashboard.ts";
import { AdminServer } from "../observe/admin/server.ts";
import { attachLogging } from "../observe/events.ts";
import { createMetrics, type ProxyMetrics } from "../observe/metrics.ts";
import { PROTOCOLS, protocolNamed } from "../protocols/registry.ts";
import { adminModel, type ReloadRecord } from "./admin-model.ts";
import { type EtcdCluster, joinCluster } from "./cluster.ts";
import { ConfigSourceTracker, configProvider } from "./config-source.ts";
import { warnIfOverLimit } from "./fd-budget.ts";
import { Runtime } from "./runtime.ts";
import { ListenerThreads } from "./workers/threads.ts";

export interface ProxyLogging {
  readonly log: Log;
  reconfigure(s: Snapshot): void;
  close(): Promise<void>;
  /** The fast writer of one flat record (the per-session line); `log` when absent. */
  readonly record?: RecordFn;
  /** Lines each output gave up since start (for the metrics). */
  dropped?(): readonly { readonly output: "stdout" | "syslog"; readonly lines: number }[];
}

export interface ProxyOptions {
  readonly configFile: string;
  /** Where complete configs come from; the config file by default. */
  readonly provider?: ConfigProvider;
  /** Builds the logger from the first snapshot. */
  readonly logging: (s: Snapshot) => ProxyLogging;
  readonly watch?: boolean;
}

/**
 * The composition root of `trunkline run`: config source → watcher → runtime (listeners,
 * pools, routes) → health, all publishing on one event bus that observe/ turns into logs.
 * Every reload (file change, SIGHUP) goes through the watcher: read, drop if unchanged,
 * validate, swap whole, or keep the running config and say why.
 */
export class TrunklineProxy {
  readonly runtime: Runtime;
  /** The threads that run the listeners (`workers:`). */
  readonly threads: ListenerThreads;
  readonly events: EventBus<TrunklineEvents>;
  /**
   * Always on in service; undefined only under TRUNKLINE_METRICS=off, a benchmark knob that
   * measures what the metrics cost (bench/README.md).
   */
  readonly metrics: ProxyMetrics | undefined;
  readonly #opts: ProxyOptions;
  readonly #logging: ProxyLogging;
  readonly #watcher: ConfigWatcher;
  readonly #health: HealthMonitor;
  readonly #detach: () => void;
  readonly #startedAt = Date.now();
  #current: Snapshot;
  #lastReload: ReloadRecord | undefined;
  #admin: AdminServer | undefined;
  readonly source: ConfigSourceTracker;
  /** This proxy in the cluster sharing its etcd; undefined when the file is the only source. */
  readonly cluster: EtcdCluster | undefined;

  private constructor(
    opts: ProxyOptions,
    watcher: ConfigWatcher,
    snapshot: Snapshot,
    logging: ProxyLogging,
    source: ConfigSourceTracker,
    raws: WeakMap<Snapshot, RawSource>,
  ) {
    this.#opts = opts;
    this.source = source;
    this.#current = snapshot;
    this.#logging = logging;
    this.events = new EventBus<TrunklineEvents>();
    this.#detach = attachLogging(this.events, logging.log, logging.record);
    this.#health = new HealthMonitor(this.events);
    this.threads = new ListenerThreads(snapshot, this.events, raws);
    this.runtime = new Runtime(this.events, this.threads.runtimeOptions);
    const rt = this.runtime;
    this.metrics =
      process.env.TRUNKLINE_METRICS === "off"
        ? undefined
        : createMetrics({
            events: this.events,
            servers: () => rt.registry.entries(),
            generation: () => (rt.started ? rt.generation : undefined),
            listeners: () => rt.allListeners(),
            logDropped: () => logging.dropped?.() ?? [],
            configSource: () => source.view(),
            workers: () => this.threads.view(),
            workerTransports: () => this.threads.transportRows(),
          });
    this.#watcher = watcher;
    source.attach(this.events);
    this.cluster = joinCluster(source.provider, this.events, rt.registry, () => ({
      admin: this.adminAddress ? `${this.adminAddress.host}:${this.adminAddress.port}` : null,
      digest: this.#current.digest,
    }));
  }

  get snapshot(): Snapshot {
    return this.#current;
  }

  get log(): Log {
    return this.#logging.log;
  }

  /** Loads the config (throws ConfigError), starts listening (throws on bind errors). */
  static async start(opts: ProxyOptions): Promise<TrunklineProxy> {
    let self: TrunklineProxy | undefined;
    let source: ConfigSourceTracker | undefined;
    const provider =
      opts.provider ??
      (await configProvider(opts.configFile, {
        state: () => {
          self?.source.stateChanged();
          self?.cluster?.refresh();
        },
        keys: (keys) => {
          if (self?.cluster && keys.some((k) => k.includes("/overrides/"))) self.cluster.applyOverrides();
        },
        cacheError: (error) => source?.cacheError(error),
        settings: (e) => source?.settingsChanged(e),
        switched: async () => {
          await self?.cluster?.rejoin();
        },
      }));
    source = new ConfigSourceTracker(provider instanceof EtcdProvider ? provider : undefined);
    const tracker = source;
    const raws = new WeakMap<Snapshot, RawSource>();
    const watcher = new ConfigWatcher({
      provider,
      parse: (raw) => {
        const r = parseMerged(raw.text, raw.origin, PROTOCOLS, raw.overlay);
        tracker.setInvalid(r.rejected);
        raws.set(r.snapshot, raw);
        return r.snapshot;
      },
      apply: (s) =>
        self ? self.#apply(s) : Promise.resolve(new TrunklineError(ErrorCodes.LISTEN, "not started")),
      onResult: (r, reason) => {
        if (self) self.#reloaded(r, reason);
      },
    });
    let snapshot: Snapshot;
    try {
      snapshot = await watcher.initial();
    } catch (err) {
      if (provider instanceof EtcdProvider) await provider.closed();
      throw err;
    }
    const logging = opts.logging(snapshot);
    const p = new TrunklineProxy(opts, watcher, snapshot, logging, tracker, raws);
    self = p;
    try {
      await p.runtime.start(snapshot);
      await p.threads.start(p.runtime, snapshot);
      p.#health.update(p.runtime.generation.pools);
      await p.#adminFor(snapshot);
    } catch (err) {
      await p.close();
      throw err;
    }
    watcher.adopt(snapshot);
    p.cluster?.start();
    if (opts.watch !== false) watcher.watch();
    p.events.emit("proxy.started", {
      config: opts.configFile,
      listeners: snapshot.listeners.length,
      routes: snapshot.routes.length,
      pools: snapshot.pools.size,
    });
    warnIfOverLimit(snapshot, protocolNamed, p.events);
    return p;
  }

  async #apply(s: Snapshot): Promise<TrunklineError | undefined> {
    const err = await this.threads.apply(this.runtime, s);
    if (err) return err;
    this.#current = s;
    warnIfOverLimit(s, protocolNamed, this.events);
    this.#health.update(this.runtime.generation.pools);
    this.#logging.reconfigure(s);
    // Servers that joined with this config get the cluster's overrides; the record its revision.
    this.cluster?.applyOverrides();
    this.cluster?.refresh();
    try {
      await this.#adminFor(s);
    } catch (e) {
      // The proxy runs the new config; only the admin API stays where it was.
      this.events.emit("listener.error", {
        listener: "admin",
        code: ErrorCodes.LISTEN,
        error: `admin API cannot listen on ${s.admin ? formatHostPort(s.admin.listen) : "?"}: ${errorMessage(e)}`,
      });
    }
    return undefined;
  }

  /** The admin API's address (port 0 in the config becomes the real port). */
  get adminAddress(): { host: string; port: number } | undefined {
    return this.#admin?.address;
  }

  /** Starts, moves, updates or stops the admin API to match a snapshot. */
  async #adminFor(s: Snapshot): Promise<void> {
    const want = s.admin;
    const cur = this.#admin;
    if (cur && want && formatHostPort(cur.settings.listen) === formatHostPort(want.listen)) {
      cur.update(want);
      return;
    }
    if (want) {
      const m = this.metrics;
      const next = new AdminServer(
        want,
        adminModel({
          runtime: this.runtime,
          startedAt: this.#startedAt,
          configSource: this.#opts.configFile,
          digest: () => this.#current.digest,
          lastReload: () => this.#lastReload,
          reload: (reason) => this.reload(reason),
          sourceView: () => this.source.view(),
          workers: () => this.threads.view(),
          ...(this.cluster ? { cluster: this.cluster } : {}),
          ...(m ? { metrics: async () => ({ contentType: m.contentType, body: await m.text() }) } : {}),
        }),
        { pages: dashboardPages() },
      );
      // A different address: bind the new one first, so a failure leaves the old one serving.
      await next.start();
      await cur?.close();
      this.#admin = next;
    } else if (cur) {
      await cur.close();
      this.#admin = undefined;
    }
  }

  #reloaded(r: ReloadResult, reason: string): void {
    this.#lastReload = { at: Date.now(), reason, result: r };
    this.events.emit("reload", {
      outcome: r.kind,
      reason,
      source: this.#opts.configFile,
      generation: this.runtime.generation.number,
      ...(r.kind === "rejected" ? { error: r.error, code: r.code } : {}),
    });
  }

  /** Reloads from the source now (SIGHUP). Logs the result; never throws. */
  reload(reason: string): Promise<ReloadResult> {
    return this.#watcher.reload(reason);
  }

  /** Stops accepting, waits for sessions until the deadline, then closes what is left. */
  async shutdown(deadline: number): Promise<void> {
    this.#watcher.close();
    this.#health.close();
    await this.#admin?.close();
    await Promise.all([this.runtime.drain(deadline), this.threads.drain(deadline)]);
    await this.threads.close();
    await this.runtime.close();
    this.events.emit("proxy.stopped", {});
    await this.#closeSource();
    this.metrics?.close();
    this.#detach();
    await this.#logging.close();
  }

  async close(): Promise<void> {
    this.#watcher.close();
    this.#health.close();
    await this.#admin?.close();
    await this.threads.close();
    await this.runtime.close();
    await this.#closeSource();
    this.metrics?.close();
    this.#detach();
    await this.#logging.close();
  }

  /** Leaves the cluster (its record goes at once) and closes the etcd client. */
  async #closeSource(): Promise<void> {
    await this.cluster?.close();
    await this.source.provider?.closed();
  }
}
