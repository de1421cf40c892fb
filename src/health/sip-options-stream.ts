/**
 * One OPTIONS ping over TCP or TLS (RFC 3261 §18), for a pool whose servers are reached over a
 * stream: a FreeSWITCH profile on TLS (5061) or TCP only has no UDP port to ping. A fresh
 * connection per ping (a check holds no socket between rounds); the answer is framed by its
 * Content-Length (§18.3) and bounded by the SIP message limit; the whole by the timeout.
 */

import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TlsClientConfig } from "../config/types.ts";
import { clientTlsOptions } from "../net/tls-client.ts";
import { SipStreamFramer } from "../protocols/sip/framer.ts";
import { probeFailure } from "./probe-failure.ts";
import { SIP_OPTIONS_STREAM_REFUSED } from "./refusal.ts";
import {
  buildOptions,
  matchOptionsMessage,
  newOptionsPing,
  type OptionsPing,
  type SipOptionsResult,
} from "./sip-options-probe.ts";

export interface StreamPing {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly transport: "tcp" | "tls";
  /** The server's own `tls:` (as for calls to it); none: system CAs, verified. */
  readonly tls?: TlsClientConfig | undefined;
}

/**
 * Any final answer 2xx–6xx within the timeout means alive, as over UDP; 1xx is waited past.
 * A connection closed or a stream that is not SIP before the answer is a failure with its cause.
 */
export function probeSipOptionsStream(o: StreamPing): Promise<SipOptionsResult> {
  return new Promise((resolve) => {
    let settled = false;
    let ping: OptionsPing | undefined;
    const framer = new SipStreamFramer();
    const sock: Socket =
      o.transport === "tls"
        ? tlsConnect({ host: o.host, port: o.port, ...clientTlsOptions(o.tls, o.host) })
        : netConnect({ host: o.host, port: o.port });
    const done = (r: SipOptionsResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `sip-options: no answer within ${o.timeoutMs}ms` }),
      o.timeoutMs,
    );
    sock.on("error", (err: NodeJS.ErrnoException) =>
      done(
        err.code === "ECONNREFUSED"
          ? { ok: false, reason: SIP_OPTIONS_STREAM_REFUSED }
          : probeFailure("sip-options", err),
      ),
    );
    sock.once(o.transport === "tls" ? "secureConnect" : "connect", () => {
      ping = newOptionsPing(o.host, o.port, sock.localAddress ?? "0.0.0.0", sock.localPort ?? 0);
      sock.write(buildOptions(ping, o.transport));
    });
    sock.on("data", (chunk: Buffer) => {
      if (!ping) return;
      const r = framer.push(chunk);
      for (const m of r.messages) {
        const status = matchOptionsMessage(m, ping);
        if (status !== undefined && status >= 200 && status <= 699) return done({ ok: true, status });
      }
      if (r.error) done({ ok: false, reason: `sip-options: unreadable answer (${r.error.code})` });
    });
    sock.on("close", () => done({ ok: false, reason: "sip-options: connection closed with no answer" }));
  });
}
