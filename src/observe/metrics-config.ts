import { Gauge, type Registry } from "prom-client";

/** What the config-source gauges read when scraped (app/config-source.ts gives it). */
export interface ConfigSourceMetrics {
  readonly kind: "file" | "etcd";
  readonly state: "up" | "down";
  readonly revision: number | null;
  readonly invalid_keys: readonly unknown[];
}

/**
 * The config source's health: whether etcd answers and is watched, the revision the proxy
 * runs (equal on every proxy of a cluster once a change reached them all), and how many
 * keys it ignored. Read at scrape time; the file alone reads as up, revision 0.
 */
export function registerConfigSourceGauges(registry: Registry, read: () => ConfigSourceMetrics): void {
  const registers = [registry];
  new Gauge({
    name: "trunkline_config_source_up",
    help: "1 when the config source answers and is watched (the file alone: always 1); 0 while etcd is unreachable (the last good config is served).",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      const s = read();
      this.reset();
      this.set({ kind: s.kind }, s.state === "up" ? 1 : 0);
    },
  });
  new Gauge({
    name: "trunkline_config_source_revision",
    help: "The etcd revision of the content this proxy runs (0 for the file alone).",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      const s = read();
      this.reset();
      this.set({ kind: s.kind }, s.revision ?? 0);
    },
  });
  new Gauge({
    name: "trunkline_config_invalid_keys",
    help: "etcd keys ignored because their value is invalid (listed with reasons in /api/v1/status).",
    registers,
    collect() {
      this.set(read().invalid_keys.length);
    },
  });
}
