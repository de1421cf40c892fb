import { connect } from "node:net";

/** A TCP health check: the server accepts a connection within the timeout. */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: { ok: true } | { ok: false; reason: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `tcp check: no connection within ${timeoutMs}ms` }),
      timeoutMs,
    );
    sock.once("connect", () => done({ ok: true }));
    sock.once("error", (err: NodeJS.ErrnoException) =>
      done({ ok: false, reason: `tcp check: ${err.code ?? err.message}` }),
    );
  });
}
