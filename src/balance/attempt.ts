import { ErrorCodes, errorCode } from "../core/errors.ts";
import type { FailedTry } from "../events/types.ts";
import type { TryOutcome } from "../servers/types.ts";

/** What the attempt loop needs of a pool. */
export interface AttemptPool<S> {
  readonly connectTimeoutMs: number;
  readonly totalTimeoutMs: number;
  /** Picks a server not in `tried` and counts a session on it; undefined when none can take one. */
  acquire(hashKey: string, tried: ReadonlySet<S>, now?: number): S | undefined;
  release(server: S): void;
  report(server: S, outcome: TryOutcome, now?: number): void;
  /** A session reached `server` after another server failed it. */
  failedOver?(server: S): void;
}

export type { FailedTry };

export interface AttemptHooks<S, R> {
  /** Tries one server within `timeoutMs`; resolves with the result, rejects on failure. */
  tryOne(server: S, timeoutMs: number): Promise<R>;
  /** Judges a result that arrived: a failure reason (the next server is tried), or undefined. */
  judge?(result: R): string | undefined;
  /** Disposes of a result that is not kept (a failure by judge, or the caller is gone). */
  discard?(result: R): void;
  /** True once the caller has gone: stop trying, report nothing. */
  cancelled(): boolean;
  /** What a try is, for passive health's reasons ("connect", "INVITE"). */
  readonly what: string;
  /** Server name for the failure list. */
  name(server: S): string;
  onFailure?(server: S, error: string): void;
  now?(): number;
}

export type AttemptResult<S, R> =
  | { readonly ok: true; readonly server: S; readonly result: R; readonly failures: readonly FailedTry[] }
  | {
      readonly ok: false;
      readonly reason: "no_server" | "all_failed" | "cancelled";
      readonly failures: readonly FailedTry[];
    };

/**
 * The one attempt loop every protocol drives: pick a server (counted at once), try it,
 * report the outcome to passive health, and on failure try the next one, each server at
 * most once, bounded by the pool's total_timeout and per try by its connect_timeout. On
 * success the session keeps the server's slot; the caller releases it when it ends.
 */
export async function attempt<S, R>(
  pool: AttemptPool<S>,
  hashKey: string,
  hooks: AttemptHooks<S, R>,
): Promise<AttemptResult<S, R>> {
  const now = hooks.now ?? Date.now;
  const tried = new Set<S>();
  const failures: FailedTry[] = [];
  const deadline = now() + pool.totalTimeoutMs;
  for (;;) {
    const left = deadline - now();
    if (left <= 0) break;
    const server = pool.acquire(hashKey, tried);
    if (!server) break;
    tried.add(server);
    let error: string;
    let code: FailedTry["code"] = ErrorCodes.CONNECT_FAILED;
    try {
      const result = await hooks.tryOne(server, Math.min(pool.connectTimeoutMs, left));
      if (hooks.cancelled()) {
        pool.release(server);
        hooks.discard?.(result);
        return { ok: false, reason: "cancelled", failures };
      }
      const bad = hooks.judge?.(result);
      if (bad === undefined) {
        pool.report(server, { ok: true });
        if (failures.length > 0) pool.failedOver?.(server);
        return { ok: true, server, result, failures };
      }
      hooks.discard?.(result);
      error = bad;
    } catch (err) {
      if (hooks.cancelled()) {
        pool.release(server);
        return { ok: false, reason: "cancelled", failures };
      }
      error = err instanceof Error ? err.message : String(err);
      code = errorCode(err, ErrorCodes.CONNECT_FAILED);
    }
    pool.release(server);
    // This host out of descriptors, buffers or ports: no verdict on the server.
    if (code !== ErrorCodes.LOCAL_RESOURCE)
      pool.report(server, { ok: false, reason: `${hooks.what} failed: ${error}` });
    failures.push({ server: hooks.name(server), error, code });
    hooks.onFailure?.(server, error);
  }
  return { ok: false, reason: failures.length === 0 ? "no_server" : "all_failed", failures };
}
