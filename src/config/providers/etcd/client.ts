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
 * How long a host that failed 3 calls in a row is skipped before a call is let through again.
 * etcd3's default is 5 s, shared by every call of the client: a cut of a few milliseconds
 * (the watch, the lease keep-alive and one put failing) shut out every read for 5 s while the
 * mirror's own backoff (200 ms doubling to 5 s) kept trying, so a blink of the network cost
 * 6.5 s of staleness (test/e2e/etcd-outage-relay.test.ts). The mirror and the cluster back off
 * themselves: with one endpoint there is no breaker; with several, it is kept so that a dead
 * one is passed over for a moment, never for longer than the mirror's first retry.
 */
export const HOST_PAUSE_MS = 200;

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
      // One endpoint: nothing to pass over to, so no breaker at all.
      host: () =>
        s.endpoints.length === 1
          ? policies().noop
          : policies().circuitBreaker(policies().handleWhen(loadEtcd3().isRecoverableError), {
              halfOpenAfter: HOST_PAUSE_MS,
              breaker: new (policies().ConsecutiveBreaker)(3),
            }),
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
