import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** Config files (YAML) are read up to this size: larger is refused, never parsed. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Files a config names (TLS material, token files, route scripts). A CA bundle is ~200 KB. */
export const MAX_NAMED_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads a regular file of at most `max` bytes. Anything else is refused with an error that
 * says why, without blocking or reading on: a FIFO (whose open would wait for a writer and
 * freeze the event loop, and so the proxy, on a reload), a device such as /dev/zero or
 * /dev/urandom (endless: read whole, it ate memory until the process died), a directory, or
 * a file over the bound. The open is non-blocking for that reason; a file that grows while it
 * is read is refused too.
 */
export function readRegularFile(path: string, max: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new Error(
        `${path} is not a regular file (${st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO" : "a device or socket"})`,
      );
    if (st.size > max) throw new Error(`${path} is ${st.size} bytes, over the ${max}-byte limit`);
    const buf = Buffer.allocUnsafe(st.size + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > st.size) throw new Error(`${path} grew while it was read`);
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
