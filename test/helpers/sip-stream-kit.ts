// Shared set-up for the SIP stream transport tests: a transport on 127.0.0.1:0 that records
// what it receives and drops and is closed after the test, SIP messages to send, raw client
// sockets for peers that misbehave, and a bounded wait on observable state.
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { type SipStreamOptions, SipStreamTransport } from "../../src/protocols/sip/stream-transport.ts";
import type { SipDropped, SipInbound, SipPeer } from "../../src/protocols/sip/transport.ts";

const TLS_DIR = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
export const CA = readFileSync(`${TLS_DIR}ca.pem`);
export const SERVER_TLS = {
  cert: readFileSync(`${TLS_DIR}server.pem`),
  key: readFileSync(`${TLS_DIR}server.key`),
};

/** Polls `cond` every 5 ms for at most `ms` (generous: the machine is shared). */
export async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Side {
  readonly t: SipStreamTransport;
  readonly got: SipInbound[];
  readonly dropped: SipDropped[];
  readonly port: number;
  /** This side's listening address as a peer to send to. */
  readonly peer: SipPeer;
}

/**
 * A started transport (TLS ones get the test server certificate and trust the test CA) that
 * records what arrives; `onMessage` runs after recording. Closed when the test ends.
 */
export async function side(
  tc: TestContext,
  transport: "tcp" | "tls",
  extra: Partial<Omit<SipStreamOptions, "onMessage">> & { onMessage?: (m: SipInbound, s: Side) => void } = {},
): Promise<Side> {
  const got: SipInbound[] = [];
  const dropped: SipDropped[] = [];
  const { onMessage, ...rest } = extra;
  let self: Side | undefined;
  const t = new SipStreamTransport({
    transport,
    host: "127.0.0.1",
    port: 0,
    ...(transport === "tls"
      ? { tls: SERVER_TLS, clientTls: { ca: CA, verify: true, servername: "localhost" } }
      : {}),
    ...rest,
    onMessage: (m) => {
      got.push(m);
      if (onMessage && self) onMessage(m, self);
    },
    onDropped: (d) => dropped.push(d),
  });
  await t.start();
  tc.after(() => t.close());
  const port = t.address?.port ?? 0;
  self = { t, got, dropped, port, peer: { transport, host: "127.0.0.1", port } };
  return self;
}

/** A well-formed request; `body` sets Content-Length. */
export function request(n: number, opts: { method?: string; body?: string; callId?: string } = {}): Buffer {
  const method = opts.method ?? "OPTIONS";
  const body = opts.body ?? "";
  return Buffer.from(
    `${method} sip:fs@127.0.0.1 SIP/2.0\r\n` +
      `Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-${n}\r\n` +
      `From: <sip:a@127.0.0.1>;tag=f${n}\r\nTo: <sip:fs@127.0.0.1>\r\n` +
      `Call-ID: ${opts.callId ?? `call-${n}`}\r\nCSeq: ${n} ${method}\r\nMax-Forwards: 70\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A 200 to `request(n)`. */
export function response(n: number, method = "OPTIONS"): Buffer {
  return Buffer.from(
    `SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-${n}\r\n` +
      `From: <sip:a@127.0.0.1>;tag=f${n}\r\nTo: <sip:fs@127.0.0.1>;tag=t${n}\r\n` +
      `Call-ID: call-${n}\r\nCSeq: ${n} ${method}\r\nContent-Length: 0\r\n\r\n`,
  );
}

export function callId(m: SipInbound): string | undefined {
  return m.message.headers.find((h) => h.name === "call-id")?.value;
}

export interface RawPeer {
  readonly socket: Socket;
  /** Everything it has read, as latin1. */
  text(): string;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

/** A client socket to `port` (TLS trusting the test CA), connected, destroyed after the test. */
export async function rawPeer(
  tc: TestContext,
  port: number,
  tls = false,
  /** Plain TCP only: the address to connect from. */
  localAddress = "127.0.0.1",
): Promise<RawPeer> {
  const socket = tls
    ? tlsConnect({ host: "127.0.0.1", port, ca: CA, servername: "localhost" })
    : netConnect({ host: "127.0.0.1", port, localAddress });
  tc.after(() => socket.destroy());
  socket.on("error", () => {});
  let text = "";
  let isClosed = false;
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
  });
  const closed = new Promise<void>((r) =>
    socket.once("close", () => {
      isClosed = true;
      r();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once(tls ? "secureConnect" : "connect", () => resolve());
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
  return { socket, text: () => text, closed, isClosed: () => isClosed };
}
