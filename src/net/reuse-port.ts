/**
 * SO_REUSEPORT: several sockets, in one process or several, bound to one address, the
 * kernel spreading connections (and datagrams, by source address) over them. It is what lets
 * `trunkline run --takeover` bind beside the running proxy before that one stops accepting.
 */

import type { ListenOptions } from "node:net";

/**
 * Node's `reusePort` option of `net.Server.listen()` and `dgram.createSocket()` came in
 * v23.1.0 and was backported to v22.12.0; an older Node ignores it (measured: Node 20.20 binds
 * the second socket with EADDRINUSE). libuv sets it on Linux and FreeBSD among the platforms
 * Node ships for; elsewhere the bind fails, so it is off there.
 */
export function reusePortSupported(
  version: string = process.versions.node,
  platform: string = process.platform,
): boolean {
  if (platform !== "linux" && platform !== "freebsd") return false;
  const [major = 0, minor = 0] = version
    .replace(/^v/, "")
    .split(".")
    .map((n) => Number.parseInt(n, 10) || 0);
  return major > 22 || (major === 22 && minor >= 12);
}

/**
 * Whether a socket for a configured port shares it. A port the kernel chooses (0) never
 * does: nobody can take over a port they cannot name, and a SIP listener binds its later
 * transports on the number its first one got, where sharing would join whatever other
 * process of ours holds that number instead of failing (EADDRINUSE) and trying another.
 */
export function sharesPort(reusePort: boolean, port: number): boolean {
  return reusePort && port !== 0;
}

/** `listen()` options with `reusePort` (absent from @types/node 20's ListenOptions). */
export type ReusableListenOptions = ListenOptions & { reusePort?: boolean };
