/**
 * Ports for peers that cannot listen on :0 themselves (etcd, HAProxy, rsyslog, ding-dong...).
 */

import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The kernel's ephemeral range: ports it hands to any `:0` bind (other tests, clients). */
function ephemeralRange(): readonly [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo !== undefined && hi !== undefined && lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux: the IANA default
  }
  return [49152, 65535];
}

/** True when host:port can be bound now over TCP (then released at once). */
function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** True when host:port can be bound now over UDP (then released at once). */
function udpBindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    s.once("error", () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

/** Ports this process has handed out: never twice (two "dead" servers of one pool must differ). */
const handed = new Set<number>();

/**
 * A free loopback port outside the ephemeral range, so that no `:0` bind of another test
 * (which the kernel serves from that range) can take it between this pick and the peer's bind,
 * nor while a restart test has the peer stopped. Bounded: 200 tries.
 */
export async function freePort(host = "127.0.0.1", udpToo = false): Promise<number> {
  const [lo, hi] = ephemeralRange();
  // below the range when there is room there, else above it
  const [from, top] = lo > 11_000 ? [10_000, lo] : [Math.min(hi + 1, 65_000), 65_536];
  for (let i = 0; i < 200; i++) {
    const port = from + Math.floor(Math.random() * (top - from));
    if (handed.has(port) || !(await bindable(port, host))) continue;
    if (udpToo && !(await udpBindable(port, host))) continue;
    handed.add(port);
    return port;
  }
  throw new Error("no free loopback port after 200 tries");
}

/**
 * A loopback port where nothing listens, for connects that must be refused. Taken outside
 * the ephemeral range (as freePort): a port released by a `:0` bind goes back to the pool the
 * kernel serves every other test's listeners from, and one CI run saw a "dead" server answer.
 */
export function deadPort(host = "127.0.0.1"): Promise<number> {
  return freePort(host);
}
