/**
 * Server certificates chosen by the client's SNI name (RFC 6066 §3): the names a certificate
 * answers for are read from it once, at config build; a listener keeps a table of secure
 * contexts by name and swaps the whole table on reload, so the next handshake sees it and
 * open connections keep theirs.
 */

import { X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import type { TlsServerConfig } from "../config/types.ts";

/** One SNI certificate with the host names read from it (lower case; `*.x.y` for wildcards). */
export interface SniCertificate {
  readonly names: readonly string[];
  readonly cert: Buffer;
  readonly key: Buffer;
}

// A DNS label (RFC 1123 §2.1), with `_` tolerated as many real names have it.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** `name` if it is a host name or a leftmost-label wildcard (`*.example.com`), else undefined. */
function hostName(raw: string): string | undefined {
  const name = raw.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  // RFC 6125 §6.4.3: a wildcard only as the whole leftmost label, over at least two labels.
  const rest = labels[0] === "*" ? labels.slice(1) : labels;
  if (rest.length === 0 || (labels[0] === "*" && rest.length < 2)) return undefined;
  return rest.every((l) => LABEL.test(l)) ? name : undefined;
}

/**
 * The host names of a PEM certificate: its subjectAltName DNS entries, else its subject CN
 * (RFC 6125 §6.4.4: the CN only counts when there is no DNS-ID). Throws when the PEM does
 * not parse.
 */
export function certificateNames(pem: Buffer): string[] {
  const x = new X509Certificate(pem);
  // Node quotes an entry holding a comma or quote as a JSON string; such a value is no host name.
  const dns = (x.subjectAltName ?? "")
    .split(", ")
    .filter((e) => e.startsWith("DNS:"))
    .map((e) => e.slice(4));
  const cns = x.subject
    .split("\n")
    .filter((l) => l.startsWith("CN="))
    .map((l) => l.slice(3));
  const names = (dns.length > 0 ? dns : cns).map(hostName).filter((n) => n !== undefined);
  return [...new Set(names)];
}

/** Whether `key` (PEM) is the private key of `cert` (PEM); throws when either does not parse. */
export function keyMatches(cert: Buffer, key: Buffer): boolean {
  try {
    createSecureContext({ cert, key });
    return true;
  } catch (err) {
    // OpenSSL's "key values mismatch" (X509_R_KEY_VALUES_MISMATCH): the pair is wrong, the PEM fine.
    if (/key values mismatch/i.test((err as Error).message)) return false;
    throw err;
  }
}

/** Secure contexts by exact name and by wildcard suffix; immutable once built. */
export class SniTable {
  readonly #exact = new Map<string, SecureContext>();
  readonly #wildcard = new Map<string, SecureContext>();

  /** The first certificate naming a host wins (the config rejects duplicates before this). */
  constructor(certs: readonly SniCertificate[], ca?: Buffer) {
    for (const c of certs) {
      // The CA goes into each context too: client certificates are verified against the
      // context the handshake ends up with.
      const ctx = createSecureContext({ cert: c.cert, key: c.key, ...(ca ? { ca } : {}) });
      for (const n of c.names) {
        const [map, k] = n.startsWith("*.") ? [this.#wildcard, n.slice(2)] : [this.#exact, n];
        if (!map.has(k)) map.set(k, ctx);
      }
    }
  }

  get size(): number {
    return this.#exact.size + this.#wildcard.size;
  }

  /** Exact name first, then a wildcard over its first label; undefined: the default certificate. */
  pick(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase().replace(/\.$/, "");
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
  }
}

/** Same certificate, key, CA and SNI certificates, byte for byte. */
export function sameServerTls(a: TlsServerConfig, b: TlsServerConfig | undefined): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) =>
    x === y || (x !== undefined && y !== undefined && x.equals(y));
  return (
    b !== undefined &&
    same(a.cert, b.cert) &&
    same(a.key, b.key) &&
    same(a.ca, b.ca) &&
    a.sni.length === b.sni.length &&
    a.sni.every((s, i) => same(s.cert, b.sni[i]?.cert) && same(s.key, b.sni[i]?.key))
  );
}

type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

/**
 * A server's SNICallback over whatever table `current()` gives at handshake time: the server
 * takes its callback once, at creation, so a reload swaps the table behind it. No context
 * (no SNI, or an unknown name) leaves Node on the server's default certificate.
 */
export function sniCallback(current: () => SniTable): SniCallback {
  return (servername, cb) => cb(null, current().pick(servername));
}
