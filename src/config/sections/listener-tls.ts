import type { z } from "zod";
import { errorMessage } from "../../core/errors.ts";
import { certificateNames, keyMatches } from "../../net/tls-sni.ts";
import type { SnapshotContext } from "../context.ts";
import type { listenerTls } from "../schema.ts";
import type { ConfigPath } from "../spec.ts";
import type { TlsServerConfig, TlsSniCertificate } from "../types.ts";

type RawListenerTls = z.output<typeof listenerTls>;

/** A certificate and its key, read and checked to belong together; undefined after a reported problem. */
function readPair(
  raw: { cert: string; key: string },
  path: ConfigPath,
  ctx: SnapshotContext,
): { cert: Buffer; key: Buffer } | undefined {
  const cert = ctx.readFile([...path, "cert"], raw.cert);
  const key = ctx.readFile([...path, "key"], raw.key);
  if (!cert || !key) return undefined;
  try {
    if (keyMatches(cert, key)) return { cert, key };
    return ctx.fail(
      [...path, "key"],
      `key ${ctx.resolve(raw.key)} does not match certificate ${ctx.resolve(raw.cert)}`,
    );
  } catch (err) {
    return ctx.fail(
      path,
      `certificate ${ctx.resolve(raw.cert)} or key ${ctx.resolve(raw.key)} does not load: ${errorMessage(err)}`,
    );
  }
}

/**
 * A listener's `tls:`: the default certificate, an optional client CA, and the SNI
 * certificates with the names each answers for (read from the certificate, once, here).
 */
export function buildListenerTls(
  raw: RawListenerTls,
  path: ConfigPath,
  ctx: SnapshotContext,
): TlsServerConfig | undefined {
  const pair = readPair(raw, path, ctx);
  const ca = raw.ca === undefined ? undefined : ctx.readFile([...path, "ca"], raw.ca);
  if (pair && ca) ctx.checkTls(path, { ...pair, ca });
  const sni: TlsSniCertificate[] = [];
  // A name in two SNI certificates would make the choice depend on their order.
  const owner = new Map<string, string>();
  for (const [i, s] of (raw.sni ?? []).entries()) {
    const p = [...path, "sni", i];
    const loaded = readPair(s, p, ctx);
    if (!loaded) continue;
    const names = certificateNames(loaded.cert);
    if (names.length === 0) {
      ctx.fail(
        [...p, "cert"],
        `certificate ${ctx.resolve(s.cert)} names no host (no DNS subjectAltName, no CN)`,
      );
      continue;
    }
    for (const n of names) {
      const prev = owner.get(n);
      if (prev !== undefined) ctx.fail([...p, "cert"], `${n} is already named by ${prev}`);
      owner.set(n, ctx.resolve(s.cert));
    }
    sni.push({ certFile: s.cert, keyFile: s.key, ...loaded, names });
  }
  if (!pair) return undefined;
  return { certFile: raw.cert, keyFile: raw.key, caFile: raw.ca, cert: pair.cert, key: pair.key, ca, sni };
}
