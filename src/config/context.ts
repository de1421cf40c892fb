import { isAbsolute, resolve } from "node:path";
import { createSecureContext } from "node:tls";
import { errorMessage } from "../core/errors.ts";
import { MAX_NAMED_FILE_BYTES, readRegularFile } from "../core/read-file.ts";
import type { RawClientTls } from "./schema.ts";
import type { BuildContext, ConfigIssue, ConfigPath } from "./spec.ts";
import type { TlsClientConfig } from "./types.ts";

/** A BuildContext collecting problems and the bytes of every file read (for the digest). */
export function buildContext(baseDir: string): BuildContext & {
  readonly issues: ConfigIssue[];
  readonly files: Buffer[];
  readonly paths: string[];
  checkTls(path: ConfigPath, material: { cert?: Buffer; key?: Buffer; ca?: Buffer }): void;
} {
  const issues: ConfigIssue[] = [];
  const files: Buffer[] = [];
  const paths: string[] = [];
  const fail = (path: ConfigPath, message: string): undefined => {
    issues.push({ path, message });
    return undefined;
  };
  const resolveFile = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  const readFile = (path: ConfigPath, file: string): Buffer | undefined => {
    const full = resolveFile(file);
    try {
      const b = readRegularFile(full, MAX_NAMED_FILE_BYTES);
      files.push(b);
      paths.push(full);
      return b;
    } catch (err) {
      return fail(path, `cannot read ${full}: ${errorMessage(err)}`);
    }
  };
  /** A key that does not match its certificate, or PEM that is not PEM, fails here, once. */
  const checkTls = (path: ConfigPath, material: { cert?: Buffer; key?: Buffer; ca?: Buffer }): void => {
    try {
      createSecureContext(material);
    } catch (err) {
      fail(path, `TLS material does not load: ${errorMessage(err)}`);
    }
  };
  const clientTls = (path: ConfigPath, raw: unknown): TlsClientConfig | undefined => {
    const t = raw as RawClientTls | undefined;
    if (t === undefined) return undefined;
    if (t === true)
      return { ca: undefined, cert: undefined, key: undefined, servername: undefined, verify: true };
    if ((t.cert === undefined) !== (t.key === undefined)) fail(path, "give both cert and key, or neither");
    const out: TlsClientConfig = {
      ca: t.ca === undefined ? undefined : readFile([...path, "ca"], t.ca),
      cert: t.cert === undefined ? undefined : readFile([...path, "cert"], t.cert),
      key: t.key === undefined ? undefined : readFile([...path, "key"], t.key),
      servername: t.servername,
      verify: t.verify ?? true,
    };
    checkTls(path, {
      ...(out.ca ? { ca: out.ca } : {}),
      ...(out.cert ? { cert: out.cert } : {}),
      ...(out.key ? { key: out.key } : {}),
    });
    return out;
  };
  return {
    issues,
    files,
    paths,
    fail,
    readFile,
    resolve: resolveFile,
    regex(path, source) {
      try {
        return new RegExp(source);
      } catch (err) {
        return fail(path, `invalid regular expression: ${errorMessage(err)}`);
      }
    },
    clientTls,
    checkTls,
  };
}

export type SnapshotContext = ReturnType<typeof buildContext>;
