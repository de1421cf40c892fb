// Test certificates made on the spot with openssl (no fixture to regenerate): a CA, then
// leaves it signs, each with its own CN (so a test can tell them apart) and SANs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Leaf {
  readonly name: string;
  readonly cn: string;
  /** e.g. "DNS:a.test,DNS:*.wild.test"; none: the CN is the only name. */
  readonly san?: string;
}

export interface CertDir {
  readonly dir: string;
  readonly ca: Buffer;
  file(name: string): string;
  read(name: string): Buffer;
  /** Another leaf signed by the same CA, made later (a reload's new certificate). */
  leaf(l: Leaf): void;
  remove(): void;
}

const openssl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
const ecKey = (dir: string, out: string) =>
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out]);

export function makeCerts(leaves: readonly Leaf[]): CertDir {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-sni-"));
  ecKey(dir, "ca.key");
  openssl(dir, [
    ...["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=SNI Test CA"],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-out", "ca.pem"],
  ]);
  const leaf = (l: Leaf) => {
    ecKey(dir, `${l.name}.key`);
    openssl(dir, ["req", "-new", "-key", `${l.name}.key`, "-subj", `/CN=${l.cn}`, "-out", `${l.name}.csr`]);
    const ext = join(dir, `${l.name}.ext`);
    writeFileSync(ext, `basicConstraints=CA:FALSE\n${l.san ? `subjectAltName=${l.san}\n` : ""}`);
    openssl(dir, [
      ...["x509", "-req", "-in", `${l.name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"],
      ...["-sha256", "-days", "2", "-extfile", ext, "-out", `${l.name}.pem`],
    ]);
  };
  for (const l of leaves) leaf(l);
  return {
    dir,
    ca: readFileSync(join(dir, "ca.pem")),
    file: (name) => join(dir, name),
    read: (name) => readFileSync(join(dir, name)),
    leaf,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
