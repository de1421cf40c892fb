/**
 * The kernel's view of the UDP sockets on a port (Linux, /proc/net/udp and udp6): the bytes
 * waiting in their receive queues and the datagrams dropped because a queue was full. Node
 * shows neither (no SO_RXQ_OVFL, no FIONREAD on a dgram socket). Load shedding reads the drops
 * to tell a backlog that overflows from a loop that is merely busy (load-shed.ts); the bench
 * reads them to judge a step.
 */

import { readFileSync } from "node:fs";

export interface UdpQueue {
  /** Sockets on the port. */
  readonly sockets: number;
  /** The fullest receive queue, in bytes of kernel memory (what SO_RCVBUF bounds). */
  readonly rxBytes: number;
  /** Datagrams dropped at those sockets, summed, since they were opened. */
  readonly drops: number;
}

/**
 * The sockets bound to `port` in the text of /proc/net/udp or udp6, or undefined when none is.
 * Pure: each line is `sl local rem st tx_queue:rx_queue ... drops`, addresses and queues in hex.
 */
export function parseUdpQueues(text: string, port: number): UdpQueue | undefined {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let sockets = 0;
  let rxBytes = 0;
  let drops = 0;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const queues = f[4];
    if (local === undefined || queues === undefined || !local.toUpperCase().endsWith(suffix)) continue;
    const rx = Number.parseInt(queues.slice(queues.indexOf(":") + 1), 16);
    const d = Number(f.at(-1));
    if (!Number.isFinite(rx) || !Number.isFinite(d)) continue;
    sockets++;
    rxBytes = Math.max(rxBytes, rx);
    drops += d;
  }
  return sockets === 0 ? undefined : { sockets, rxBytes, drops };
}

/** The UDP sockets on `port` now; undefined where /proc/net is not readable (not Linux). */
export function readUdpQueue(port: number, family: "IPv4" | "IPv6"): UdpQueue | undefined {
  try {
    return parseUdpQueues(
      readFileSync(family === "IPv6" ? "/proc/net/udp6" : "/proc/net/udp", "latin1"),
      port,
    );
  } catch {
    return undefined;
  }
}
