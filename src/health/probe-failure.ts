import { isLocalResourceError } from "../net/local-errors.ts";
import type { ProbeFailure } from "./types.ts";

/** A check's failure on a socket error: `PREFIX: CODE`, marked local for this host's shortages. */
export function probeFailure(prefix: string, err: NodeJS.ErrnoException): ProbeFailure {
  const reason = `${prefix}: ${err.code ?? err.message}`;
  return isLocalResourceError(err) ? { ok: false, reason, local: true } : { ok: false, reason };
}
