import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Lease } from "etcd3";
import { overridesOf, type ProxyRecord, proxiesOf } from "../config/providers/etcd/native.ts";
import type { EtcdProvider } from "../config/providers/etcd/provider.ts";
import { errorMessage } from "../core/errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { TrunklineEvents } from "../events/types.ts";
import type { ServerRegistry } from "../servers/registry.ts";
import type { OperatorOverride } from "../servers/types.ts";

/** How long closing waits for etcd to revoke the proxy's lease (then the TTL removes its record). */
const REVOKE_BOUND_MS = 2_000;
/** A proxy that stops renewing (crash, partition) leaves the list within this. */
export const LEASE_TTL_S = 10;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

export interface ClusterDeps {
  readonly provider: EtcdProvider;
  readonly registry: ServerRegistry;
  readonly events: Pick<EventBus<TrunklineEvents>, "emit">;
  /** What this proxy says about itself now: its admin address and config digest. */
  readonly self: () => { readonly admin: string | null; readonly digest: string };
}

/**
 * This proxy as a member of a cluster sharing one etcd: it registers itself under
 * `<prefix>proxies/<id>` with a lease (gone when it stops renewing), applies the operator
 * overrides everyone writes under `<prefix>overrides/<pool>/<server>`, and writes its own.
 */
export class EtcdCluster {
  readonly id: string;
  readonly startedAt = new Date().toISOString();
  readonly #d: ClusterDeps;
  #lease: Lease | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #backoff = RETRY_MIN_MS;
  /** Servers this proxy overrode from etcd, so a deleted key lifts exactly those. */
  #applied = new Map<string, string>();
  #lastRecord = "";

  constructor(deps: ClusterDeps) {
    this.#d = deps;
    this.id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  get #prefix(): string {
    return this.#d.provider.prefix;
  }

  start(): void {
    this.applyOverrides();
    this.#register();
  }

  /** The proxies registered now (those whose lease lives), this one included once it is. */
  proxies(): ProxyRecord[] {
    return proxiesOf(this.#d.provider.kvs, this.#prefix);
  }

  #record(): string {
    const s = this.#d.self();
    return JSON.stringify({
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      admin: s.admin,
      revision: this.#d.provider.revision,
      digest: s.digest,
      started_at: this.startedAt,
    });
  }

  /** Grants a lease and puts the record under it; on any failure or a lost lease, again later. */
  #register(): void {
    if (this.#closed) return;
    const { client } = this.#d.provider;
    const lease = client.lease(LEASE_TTL_S);
    this.#lease = lease;
    lease.on("lost", (err) => {
      if (this.#lease !== lease || this.#closed) return;
      this.#d.events.emit("etcd.lease_lost", { id: this.id, error: errorMessage(err) });
      this.#again();
    });
    this.#put(lease)
      .then(() => {
        this.#backoff = RETRY_MIN_MS;
      })
      .catch(() => {
        if (this.#lease === lease) this.#again();
      });
  }

  #again(): void {
    const old = this.#lease;
    this.#lease = undefined;
    old?.release();
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#register();
    }, this.#backoff);
    this.#retry.unref();
    this.#backoff = Math.min(RETRY_MAX_MS, this.#backoff * 2);
  }

  /**
   * The provider switched to a new `config.etcd`: the record leaves the old etcd (its lease
   * revoked while the old client is still open) and is put into the new one; the overrides
   * are now the new prefix's.
   */
  async rejoin(): Promise<void> {
    if (this.#closed) return;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    this.#lastRecord = "";
    this.#backoff = RETRY_MIN_MS;
    if (lease) await lease.revoke().catch(() => lease.release());
    this.applyOverrides();
    this.#register();
  }

  /** Writes this proxy's record under `lease`; remembers it once etcd has it. */
  async #put(lease: Lease): Promise<void> {
    const rec = this.#record();
    await lease.put(`${this.#prefix}proxies/${this.id}`).value(rec).exec();
    this.#lastRecord = rec;
  }

  /** The record changed (a new config, a new revision): rewrite it under the same lease. */
  refresh(): void {
    const lease = this.#lease;
    if (!lease || this.#record() === this.#lastRecord) return;
    this.#put(lease).catch(() => {});
  }

  /**
   * Makes the registry match the overrides in etcd: each key sets its server's operator
   * layer; a key gone lifts what it had set. Run on every change of those keys and after
   * every config swap (a server that just joined gets its override).
   */
  applyOverrides(): void {
    const { overrides } = overridesOf(this.#d.provider.kvs, this.#prefix);
    const next = new Map<string, string>();
    for (const o of overrides) {
      const entry = this.#d.registry.override(
        o.server,
        { admin: o.admin, weight: o.weight },
        `etcd override${o.by ? ` by ${o.by}` : ""}${o.reason ? `: ${o.reason}` : ""}`,
      );
      if (entry) next.set(o.server, o.key);
    }
    for (const [server, key] of this.#applied)
      if (!next.has(server))
        this.#d.registry.override(
          server,
          { admin: undefined, weight: undefined },
          `etcd override lifted (${key})`,
        );
    this.#applied = next;
  }

  /** Writes an operator change for the whole cluster; lifting everything deletes the key. */
  async writeOverride(pool: string, server: string, o: OperatorOverride, reason: string): Promise<void> {
    const key = `${this.#prefix}overrides/${pool}/${server}`;
    const { client } = this.#d.provider;
    if (o.admin === undefined && o.weight === undefined) {
      await client.delete().key(key).exec();
      return;
    }
    await client
      .put(key)
      .value(JSON.stringify({ admin: o.admin ?? null, weight: o.weight ?? null, reason, by: this.id }))
      .exec();
  }

  /** Writes `started` into each wake key (gogeta's status/expected) that a request asked for. */
  wake(keys: readonly string[]): void {
    const services = `${this.#d.provider.settings.gogeta?.services ?? "/services"}/`;
    for (const key of keys) {
      if (!key.startsWith(services) || !key.endsWith("/status/expected")) continue;
      this.#d.provider.client
        .put(key)
        .value("started")
        .exec()
        .then(() => this.#d.events.emit("etcd.wake", { key }))
        .catch((err) => this.#d.events.emit("etcd.wake", { key, error: errorMessage(err) }));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const lease = this.#lease;
    this.#lease = undefined;
    // Revoked, the record is gone at once rather than after the TTL. Bounded: an etcd that
    // hangs (or restarts) costs REVOKE_BOUND_MS, then the lease is released; an unbounded
    // revoke kept the process alive for good on the lease's own keep-alive timers.
    if (!lease) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), REVOKE_BOUND_MS);
    });
    const r = await Promise.race([
      lease.revoke().then(
        () => "revoked" as const,
        () => "failed" as const,
      ),
      late,
    ]);
    clearTimeout(timer);
    if (r !== "revoked") lease.release();
  }
}

/** The cluster member of a proxy whose config comes from etcd (none for the file alone); it acts on `http.wake`. */
export function joinCluster(
  provider: EtcdProvider | undefined,
  events: Pick<EventBus<TrunklineEvents>, "on" | "emit">,
  registry: ServerRegistry,
  self: ClusterDeps["self"],
): EtcdCluster | undefined {
  if (!provider) return undefined;
  const cluster = new EtcdCluster({ provider, registry, events, self });
  events.on("http.wake", (e) => cluster.wake(e.keys));
  return cluster;
}
