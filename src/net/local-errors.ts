import { ErrorCodes, TrunklineError } from "../core/errors.ts";

/**
 * errno codes that say this process or host ran out of something of its own: descriptors
 * (EMFILE, ENFILE), kernel memory or socket buffers (ENOMEM, ENOBUFS). A connect or a health
 * check that fails so tells nothing about the server it was reaching: passive health and
 * checks give no verdict on it, as HAProxy counts such a failure as a resource error, not the
 * server's. EADDRNOTAVAIL is not among them: besides local ports running out, it is what an
 * address this host cannot reach at all gives (`::1` with IPv6 off), and such a server must
 * still go down.
 */
const LOCAL_RESOURCE = new Set(["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"]);

/** The error (an errno error, or ours with E_LOCAL_RESOURCE) is a shortage of this host's. */
export function isLocalResourceError(err: unknown): boolean {
  if (err instanceof TrunklineError) return err.code === ErrorCodes.LOCAL_RESOURCE;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && LOCAL_RESOURCE.has(code);
}
