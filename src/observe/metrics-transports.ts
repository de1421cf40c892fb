/**
 * A listener's transports as metrics (SIP: UDP, TCP, TLS), read at scrape time from their
 * own counters: datagrams received and sent, send errors, oversize datagrams; connections
 * accepted, connected, refused (over the limit, or per source), timeouts, malformed streams.
 * An operator sees a stream flood (refused_per_source, timeouts climbing) without logs.
 */

import { Counter, Gauge, type Registry } from "prom-client";

/** One transport of a listener: what SipTransports.views() gives. */
export interface MetricsTransport {
  readonly transport: string;
  readonly connections: number | undefined;
  readonly counts: Readonly<Record<string, number>>;
}

/** One transport of a listener on another thread (a worker's, as it last reported it). */
export interface TransportRow extends MetricsTransport {
  readonly listener: string;
}

/** A listener that has transports of its own (SIP). */
export interface TransportsListener {
  readonly config: { readonly name: string };
  readonly transports?: { views(): readonly MetricsTransport[] } | undefined;
}

/** refusedPerSource → refused_per_source: Prometheus label values in the house's snake case. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** This thread's transports, then the other threads' rows: the process's, one row per listener and transport. */
function* rowsOf(
  listeners: () => Iterable<TransportsListener>,
  others: (() => Iterable<TransportRow>) | undefined,
): Generator<TransportRow> {
  for (const l of listeners())
    for (const t of l.transports?.views() ?? []) yield { listener: l.config.name, ...t };
  if (others) yield* others();
}

/**
 * `others`: the worker threads' transports (`workers:` above 1), summed with this thread's:
 * SIP over UDP runs on every thread, and each counts what it received and sent.
 */
export function registerTransportMetrics(
  registry: Registry,
  listeners: () => Iterable<TransportsListener>,
  others?: () => Iterable<TransportRow>,
): void {
  const registers = [registry];
  new Counter({
    name: "trunkline_transport_events_total",
    help: "Counters of a listener's own transports (SIP udp, tcp, tls): received, sent, send_errors, accepted, refused_over_limit, refused_per_source, timeouts, malformed...",
    labelNames: ["listener", "transport", "event"] as const,
    registers,
    collect() {
      this.reset();
      for (const t of rowsOf(listeners, others))
        for (const [event, n] of Object.entries(t.counts))
          this.inc({ listener: t.listener, transport: t.transport, event: snake(event) }, n);
    },
  });
  new Gauge({
    name: "trunkline_transport_connections",
    help: "Connections open now on a listener's stream transport (SIP tcp, tls), inbound and outbound.",
    labelNames: ["listener", "transport"] as const,
    registers,
    collect() {
      this.reset();
      for (const t of rowsOf(listeners, others))
        if (t.connections !== undefined)
          this.inc({ listener: t.listener, transport: t.transport }, t.connections);
    },
  });
}
