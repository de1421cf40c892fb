import { connect } from "node:net";
import { probeFailure } from "./probe-failure.ts";
import type { ProbeFailure } from "./types.ts";

/** A TCP health check: the server accepts a connection within the timeout. */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ ok: true } | ProbeFailure> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: { ok: true } | ProbeFailure) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `tcp check: no connection within ${timeoutMs}ms` }),
      timeoutMs,
    );
    sock.once("connect", () => done({ ok: true }));
    sock.once("error", (err: NodeJS.ErrnoException) => done(probeFailure("tcp check", err)));
  });
}
