import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { PingTransport } from "../config/types.ts";
import { newBranch } from "../protocols/sip/branch.ts";
import { headerValue, headerValues } from "../protocols/sip/headers.ts";
import { parseMessage } from "../protocols/sip/message.ts";
import type { SipMessage } from "../protocols/sip/types.ts";
import { parseVia } from "../protocols/sip/via.ts";
import { probeFailure } from "./probe-failure.ts";
import { SIP_OPTIONS_REFUSED } from "./refusal.ts";
import type { ProbeFailure } from "./types.ts";

/** What makes one OPTIONS ping unique, so that its answer can be told from any other datagram. */
export interface OptionsPing {
  /** The server pinged. */
  readonly host: string;
  readonly port: number;
  /** Our end of the connected socket: the Via sent-by and the From URI. */
  readonly localHost: string;
  readonly localPort: number;
  readonly branch: string;
  readonly callId: string;
  readonly tag: string;
}

export type SipOptionsResult = { readonly ok: true; readonly status: number } | ProbeFailure;

/** An IPv6 literal goes in brackets in a URI or a Via (RFC 3261 §25.1 `IPv6reference`). */
const hostPart = (h: string) => (isIPv6(h) ? `[${h}]` : h);

/** A fresh ping: a branch, a Call-ID and a From tag never used before (RFC 3261 §8.1.1). */
export function newOptionsPing(
  host: string,
  port: number,
  localHost: string,
  localPort: number,
): OptionsPing {
  return {
    host,
    port,
    localHost,
    localPort,
    branch: newBranch(),
    callId: `${randomBytes(12).toString("hex")}@trunkline`,
    tag: randomBytes(6).toString("hex"),
  };
}

/**
 * The OPTIONS request of one ping (RFC 3261 §11.1: out of dialog, no body). Over UDP, `rport`
 * asks the server to answer to the port we sent from (RFC 3581), the one our connected socket
 * reads; over a stream the answer comes back on the connection (§18.2.2), and the request URI
 * names the transport (§19.1.1).
 */
export function buildOptions(p: OptionsPing, transport: PingTransport = "udp"): string {
  const target = `${hostPart(p.host)}:${p.port}`;
  const local = `${hostPart(p.localHost)}:${p.localPort}`;
  const udp = transport === "udp";
  return (
    `OPTIONS sip:${target}${udp ? "" : `;transport=${transport}`} SIP/2.0\r\n` +
    `Via: SIP/2.0/${transport.toUpperCase()} ${local};branch=${p.branch}${udp ? ";rport" : ""}\r\n` +
    "Max-Forwards: 70\r\n" +
    `From: <sip:trunkline@${local}>;tag=${p.tag}\r\n` +
    `To: <sip:${target}>\r\n` +
    `Call-ID: ${p.callId}\r\n` +
    "CSeq: 1 OPTIONS\r\n" +
    "Accept: application/sdp\r\n" +
    "Content-Length: 0\r\n\r\n"
  );
}

/**
 * The status of a datagram if it answers this ping: a response (RFC 3261 §17.1.3 matches by
 * the top Via branch; the Call-ID is checked as well) with a final or provisional code.
 * Anything else (a request, a stray or late answer to an earlier ping, garbage) is undefined.
 */
export function matchOptionsResponse(bytes: Buffer, p: OptionsPing): number | undefined {
  const r = parseMessage(bytes, { stream: false });
  return r.ok ? matchOptionsMessage(r.message, p) : undefined;
}

/** matchOptionsResponse over a message already parsed (a stream's framer parsed it). */
export function matchOptionsMessage(m: SipMessage, p: OptionsPing): number | undefined {
  if (m.kind !== "response") return undefined;
  if (headerValue(m, "call-id") !== p.callId) return undefined;
  const top = headerValues(m, "via")[0];
  const via = top === undefined ? undefined : parseVia(top);
  if (!via?.ok || via.via.branch !== p.branch) return undefined;
  return m.status;
}

/**
 * One OPTIONS ping over UDP, as Kamailio's dispatcher pings: any final answer 2xx–6xx within
 * the timeout means the server is alive (a 503 is a server that is there, only busy). 1xx is
 * not an answer to OPTIONS and is waited past. The socket is connected, so an ICMP port
 * unreachable comes back as ECONNREFUSED at once: "refused" is told from "no answer".
 */
export function probeSipOptions(opts: {
  host: string;
  port: number;
  timeoutMs: number;
}): Promise<SipOptionsResult> {
  return new Promise((resolve) => {
    let sock: Socket;
    try {
      sock = createSocket(isIPv6(opts.host) ? "udp6" : "udp4");
    } catch (err) {
      resolve(probeFailure("sip-options", err as NodeJS.ErrnoException));
      return;
    }
    let ping: OptionsPing | undefined;
    let settled = false;
    const done = (r: SipOptionsResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `sip-options: no answer within ${opts.timeoutMs}ms` }),
      opts.timeoutMs,
    );
    sock.on("error", (err: NodeJS.ErrnoException) =>
      done(
        err.code === "ECONNREFUSED"
          ? { ok: false, reason: SIP_OPTIONS_REFUSED }
          : probeFailure("sip-options", err),
      ),
    );
    sock.on("message", (msg: Buffer) => {
      if (!ping) return;
      const status = matchOptionsResponse(msg, ping);
      if (status !== undefined && status >= 200 && status <= 699) done({ ok: true, status });
    });
    // A failed name lookup comes to this callback (not as an 'error' event).
    sock.connect(opts.port, opts.host, (err?: Error) => {
      if (settled) return;
      if (err) {
        done(probeFailure("sip-options", err as NodeJS.ErrnoException));
        return;
      }
      const local = sock.address();
      ping = newOptionsPing(opts.host, opts.port, local.address, local.port);
      sock.send(buildOptions(ping), (err) => {
        if (err)
          done({
            ok: false,
            reason: `sip-options: send: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
          });
      });
    });
  });
}
