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
 * The sockets bound to `port` in the text of /proc/net/udp or udp6 (and to `address`, when
 * given: the local address as that file writes it, see procAddress), or undefined when none is.
 * Pure: each line is `sl local rem st tx_queue:rx_queue ... drops`, addresses and queues in hex.
 */
export function parseUdpQueues(text: string, port: number, address?: string): UdpQueue | undefined {
  // The kernel writes the hex in capitals (%08X:%04X). Only this port's lines are split: the
  // file holds every UDP socket of the host.
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  let sockets = 0;
  let rxBytes = 0;
  let drops = 0;
  let at = text.indexOf(suffix);
  while (at >= 0) {
    const eol = text.indexOf("\n", at);
    const end = eol < 0 ? text.length : eol;
    const f = text
      .slice(text.lastIndexOf("\n", at) + 1, end)
      .trim()
      .split(/\s+/);
    // The next match after this line (its remote address may carry the same port).
    at = text.indexOf(suffix, end);
    const local = f[1];
    const queues = f[4];
    if (local === undefined || queues === undefined || !`${local} `.endsWith(suffix)) continue;
    if (address !== undefined && local !== `${address}${suffix.trimEnd()}`) continue;
    const rx = Number.parseInt(queues.slice(queues.indexOf(":") + 1), 16);
    const d = Number(f.at(-1));
    if (!Number.isFinite(rx) || !Number.isFinite(d)) continue;
    sockets++;
    rxBytes = Math.max(rxBytes, rx);
    drops += d;
  }
  return sockets === 0 ? undefined : { sockets, rxBytes, drops };
}

/**
 * An IPv4 address as /proc/net/udp writes it (the 32 bits in host order, hex: 127.0.0.1 is
 * 0100007F on x86), or undefined for IPv6 and anything else: those are matched by port alone.
 */
export function procAddress(host: string): string | undefined {
  const parts = host.split(".").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return undefined;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");
  const bytes = parts as [number, number, number, number];
  return littleEndian ? bytes.map(hex).reverse().join("") : bytes.map(hex).join("");
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The UDP sockets on `port` (and `host`, an IPv4 address; IPv6 by port alone) now; undefined
 * where /proc/net is not readable (not Linux).
 */
export function readUdpQueue(port: number, family: "IPv4" | "IPv6", host?: string): UdpQueue | undefined {
  try {
    const text = readFileSync(family === "IPv6" ? "/proc/net/udp6" : "/proc/net/udp", "latin1");
    return parseUdpQueues(text, port, host === undefined ? undefined : procAddress(host));
  } catch {
    return undefined;
  }
}
