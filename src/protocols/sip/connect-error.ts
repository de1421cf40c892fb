import { isLocalResourceError } from "../../net/local-errors.ts";
import type { SipStreamConfig } from "./stream-options.ts";
import type { SipError } from "./types.ts";

/**
 * The error of a failed connect, by kind: refused or unreachable, a TLS failure, or this
 * process out of its own resources (descriptors, buffers: `local_resource`, net/local-errors.ts).
 */
export function connectError(err: NodeJS.ErrnoException, c: SipStreamConfig): SipError {
  if (isLocalResourceError(err)) return { code: "local_resource", message: `${err.code}: ${err.message}` };
  const tls =
    c.transport === "tls" &&
    (!err.code?.startsWith("E") || /CERT|TLS|SSL|SELF_SIGNED|HOSTNAME|ALTNAME/.test(err.code));
  const message = err.code ? `${err.code}: ${err.message}` : err.message;
  return { code: tls ? "tls_failed" : "connect_failed", message };
}
