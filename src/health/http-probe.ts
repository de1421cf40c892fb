import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TlsClientConfig } from "../config/types.ts";
import { formatHostPort } from "../core/address.ts";
import { clientTlsOptions } from "../net/tls-client.ts";
import { probeFailure } from "./probe-failure.ts";
import type { ProbeFailure } from "./types.ts";

export interface HttpProbe {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** The status required; undefined: any 2xx or 3xx (HAProxy's httpchk default). */
  readonly expect: number | undefined;
  readonly timeoutMs: number;
  /** The server's own `tls:`: the check speaks HTTPS with it. */
  readonly tls?: TlsClientConfig | undefined;
}

export type HttpProbeResult = { readonly ok: true; readonly status: number } | ProbeFailure;

/**
 * An HTTP health check: GET `path` on a fresh connection (no keep-alive: a check must not
 * hold a socket between rounds), bounded as a whole by the timeout; the body is read and
 * dropped, at most 64 KiB of it.
 */
export function probeHttp(p: HttpProbe): Promise<HttpProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const t = p.tls;
    const opts = {
      host: p.host,
      port: p.port,
      path: p.path,
      method: "GET",
      agent: false as const,
      headers: {
        host: formatHostPort({ host: p.host, port: p.port }),
        "user-agent": "trunkline-health",
        connection: "close",
      },
      ...(t ? clientTlsOptions(t, p.host) : {}),
    };
    const req = (t ? httpsRequest : httpRequest)(opts);
    const done = (r: HttpProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `http check: no answer within ${p.timeoutMs}ms` }),
      p.timeoutMs,
    );
    req.on("error", (err: NodeJS.ErrnoException) => done(probeFailure("http check", err)));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const good = p.expect !== undefined ? status === p.expect : status >= 200 && status < 400;
      let read = 0;
      res.on("data", (c: Buffer) => {
        read += c.length;
        if (read > 64 * 1024) res.destroy();
      });
      res.on("error", () => {});
      const verdict = (): HttpProbeResult =>
        good
          ? { ok: true, status }
          : {
              ok: false,
              reason: `http check: ${p.path} answered ${status}, expected ${p.expect ?? "2xx or 3xx"}`,
            };
      res.once("end", () => done(verdict()));
      res.once("close", () => done(verdict()));
    });
    req.end();
  });
}
