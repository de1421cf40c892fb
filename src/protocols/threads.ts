import type { ListenerConfig } from "../config/types.ts";

/**
 * Whether a listener runs on every listener thread (`workers:` above 1) or on the main thread
 * only. FastAGI and HTTP connections are independent: every thread. SIP over UDP too, each
 * message handed to the thread of its Call-ID (protocols/sip/listener.ts). SIP over TCP or
 * TLS stays on the main thread: a dialog's connections (the caller's, the server's, ones the
 * server opens back to us) would land on different threads, and a message must leave on the
 * connection it belongs to.
 */
export function runsOnEveryThread(cfg: ListenerConfig): boolean {
  if (cfg.protocol !== "sip") return true;
  const transports = (cfg.options as { transports?: readonly string[] }).transports ?? [];
  return transports.length > 0 && transports.every((t) => t === "udp");
}
