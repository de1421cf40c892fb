import { createRequire } from "node:module";
import { isAbsolute, resolve } from "node:path";
import type { Etcd3, IOptions } from "etcd3";
import { MAX_NAMED_FILE_BYTES, readRegularFile } from "../../../core/read-file.ts";
import type { RawEtcd } from "../../schema.ts";

/** Every unary call (range, put, delete, lease) gives up after this: a dead etcd costs a timeout. */
export const CALL_TIMEOUT_MS = 3_000;

/**
 * etcd3 (with gRPC under it) is loaded on the first etcd client, not at start: a proxy whose
 * config has no `config.etcd` never pays its start-up time and memory (measured: 231 ms and
 * 26 MB of RSS on Node 20 here). etcd3 is CommonJS, so `require` loads it synchronously.
 */
let etcd3: typeof import("etcd3") | undefined;
function loadEtcd3(): typeof import("etcd3") {
  etcd3 ??= createRequire(import.meta.url)("etcd3") as typeof import("etcd3");
  return etcd3;
}

/**
 * With several endpoints, how long one that failed 3 calls in a row is passed over (etcd3's
 * default). Shorter lets the watch land on a dead endpoint again and again, each time a
 * failure that doubles the mirror's backoff: with 2 of 3 endpoints dead, 200 ms or a backoff
 * from 1 s made changes wait 1.6 and 3.2 s (test/integration/etcd-endpoints.test.ts); 5 s
 * passed 12 runs of 12. With one endpoint there is nothing to pass over to, and the 5 s
 * shut every call out after any cut of a few milliseconds (the watch, the lease keep-alive and
 * one put failing) while the mirror's own backoff (200 ms doubling to 5 s) kept trying: a blink
 * of the network cost 6.5 s of staleness (test/e2e/etcd-outage-relay.test.ts).
 */
export const HOST_PAUSE_MS = 5_000;
/**
 * With one endpoint, the mirror's first retry, so the breaker never holds longer than the
 * mirror would wait. Not none: with no breaker at all, a test file that stops and SIGSTOPs
 * etcd failed to exit, all its tests passed, in 3 of 6 runs under two CPU hogs.
 */
export const ONE_HOST_PAUSE_MS = 200;

/** cockatiel, etcd3's fault-handling library, loaded with it. */
function policies(): typeof import("cockatiel") {
  return createRequire(import.meta.url)("cockatiel") as typeof import("cockatiel");
}

/** The etcd client for `config.etcd`; TLS files are relative to the config's folder. */
export function createEtcdClient(s: RawEtcd, baseDir: string): Etcd3 {
  const file = (f: string) => readRegularFile(isAbsolute(f) ? f : resolve(baseDir, f), MAX_NAMED_FILE_BYTES);
  const opts: IOptions = {
    hosts: s.endpoints.map((e) => e.replace(/\/$/, "")),
    dialTimeout: CALL_TIMEOUT_MS,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    faultHandling: {
      host: () => {
        const c = policies();
        return c.circuitBreaker(c.handleWhen(loadEtcd3().isRecoverableError), {
          halfOpenAfter: s.endpoints.length === 1 ? ONE_HOST_PAUSE_MS : HOST_PAUSE_MS,
          breaker: new c.ConsecutiveBreaker(3),
        });
      },
    },
  };
  if (s.tls?.ca !== undefined)
    opts.credentials = {
      rootCertificate: file(s.tls.ca),
      ...(s.tls.key !== undefined ? { privateKey: file(s.tls.key) } : {}),
      ...(s.tls.cert !== undefined ? { certChain: file(s.tls.cert) } : {}),
    };
  if (s.user !== undefined) opts.auth = { username: s.user, password: s.password ?? "" };
  return new (loadEtcd3().Etcd3)(opts);
}
