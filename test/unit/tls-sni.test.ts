// Certificates chosen by SNI (issue #14): the names read from each certificate, the choice
// (exact, then a one-label wildcard, then the default), and the config errors.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { ConfigError } from "../../src/config/load.ts";
import { certificateNames, keyMatches, SniTable } from "../../src/net/tls-sni.ts";
import { makeCerts } from "../helpers/tls-sni-certs.ts";

const certs = makeCerts([
  { name: "a", cn: "cert-a", san: "DNS:A.Test,IP:127.0.0.1" },
  { name: "wild", cn: "cert-wild", san: "DNS:*.wild.test,DNS:wild.test,DNS:x.*.test,DNS:*" },
  { name: "exact", cn: "cert-exact", san: "DNS:one.wild.test" },
  { name: "cn", cn: "cn.test" },
]);
after(() => certs.remove());
const entry = (n: string) => ({
  names: certificateNames(certs.read(`${n}.pem`)),
  cert: certs.read(`${n}.pem`),
  key: certs.read(`${n}.key`),
});

test("names are the DNS subjectAltNames, lower case; IPs and malformed wildcards are not names", () => {
  assert.deepEqual(certificateNames(certs.read("a.pem")), ["a.test"]);
  assert.deepEqual(certificateNames(certs.read("wild.pem")), ["*.wild.test", "wild.test"]);
});

test("a certificate without DNS subjectAltName is named by its CN", () => {
  assert.deepEqual(certificateNames(certs.read("cn.pem")), ["cn.test"]);
});

test("a PEM that is no certificate throws", () => {
  assert.throws(() => certificateNames(Buffer.from("not a certificate")));
});

test("keyMatches tells a pair from a mismatched key", () => {
  assert.equal(keyMatches(certs.read("a.pem"), certs.read("a.key")), true);
  assert.equal(keyMatches(certs.read("a.pem"), certs.read("cn.key")), false);
});

test("pick: exact name first, then a wildcard over one label, else the default (undefined)", () => {
  const t = new SniTable([entry("a"), entry("wild"), entry("exact"), entry("cn")]);
  const a = t.pick("a.test");
  const wild = t.pick("two.wild.test");
  const exact = t.pick("one.wild.test");
  assert.ok(a && wild && exact);
  assert.notEqual(a, wild);
  assert.notEqual(exact, wild, "the exact name beats the wildcard");
  assert.equal(t.pick("A.TEST."), a, "case and a trailing dot do not matter");
  assert.equal(t.pick("wild.test"), wild, "the bare name is in the SAN list");
  assert.equal(t.pick("deep.two.wild.test"), undefined, "a wildcard matches one label only");
  assert.equal(t.pick("other.test"), undefined);
  assert.equal(t.pick(""), undefined);
  assert.ok(t.pick("cn.test"));
});

function problems(yaml: string): string[] {
  try {
    parseConfigText(yaml, "t.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n").filter((l) => l.startsWith("t.yaml"));
    throw err;
  }
  return [];
}

const config = (listener: string) => `
listeners:
  - name: web
${listener}
routes: [ { listener: web, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
`;
const f = (n: string) => certs.file(n);

test("a config with SNI certificates builds, with the names read from each", () => {
  const s = parseConfigText(
    config(`    protocol: http
    listen: 127.0.0.1:0
    tls:
      cert: ${f("cn.pem")}
      key: ${f("cn.key")}
      sni:
        - { cert: ${f("a.pem")}, key: ${f("a.key")} }
        - { cert: ${f("wild.pem")}, key: ${f("wild.key")} }`),
    "t.yaml",
  );
  const sni = s.listeners[0]?.tls?.sni ?? [];
  assert.deepEqual(
    sni.map((c) => c.names),
    [["a.test"], ["*.wild.test", "wild.test"]],
  );
});

test("an SNI key that does not match its certificate is an error at file:line:col naming both files", () => {
  const lines = problems(
    config(`    protocol: http
    listen: 127.0.0.1:0
    tls:
      cert: ${f("cn.pem")}
      key: ${f("cn.key")}
      sni:
        - cert: ${f("a.pem")}
          key: ${f("wild.key")}`),
  );
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0]!,
    /^t\.yaml:11:\d+ listeners\[0\]\.tls\.sni\[0\]\.key: key \S+wild\.key does not match certificate \S+a\.pem$/,
  );
});

test("an SNI certificate that does not parse is an error naming the file", () => {
  const lines = problems(
    config(`    protocol: http
    listen: 127.0.0.1:0
    tls:
      cert: ${f("cn.pem")}
      key: ${f("cn.key")}
      sni: [ { cert: ${f("ca.srl")}, key: ${f("a.key")} } ]`),
  );
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0]!,
    /^t\.yaml:9:\d+ listeners\[0\]\.tls\.sni\[0\]: certificate \S+ca\.srl or key \S+a\.key does not load/,
  );
});

test("the default certificate's mismatched key is an error too", () => {
  const lines = problems(
    config(`    protocol: http
    listen: 127.0.0.1:0
    tls: { cert: ${f("a.pem")}, key: ${f("cn.key")} }`),
  );
  assert.match(
    lines[0] ?? "",
    /listeners\[0\]\.tls\.key: key \S+cn\.key does not match certificate \S+a\.pem$/,
  );
});

test("a name in two SNI certificates is an error", () => {
  const lines = problems(
    config(`    protocol: http
    listen: 127.0.0.1:0
    tls:
      cert: ${f("cn.pem")}
      key: ${f("cn.key")}
      sni: [ { cert: ${f("a.pem")}, key: ${f("a.key")} }, { cert: ${f("a.pem")}, key: ${f("a.key")} } ]`),
  );
  assert.match(lines[0] ?? "", /listeners\[0\]\.tls\.sni\[1\]\.cert: a\.test is already named by \S+a\.pem$/);
});

test("fastagi and sip listeners reject tls.sni with a clear message", () => {
  for (const protocol of ["fastagi", "sip"]) {
    const lines = problems(
      config(`    protocol: ${protocol}
    listen: 127.0.0.1:0
    tls:
      cert: ${f("cn.pem")}
      key: ${f("cn.key")}
      sni: [ { cert: ${f("a.pem")}, key: ${f("a.key")} } ]`),
    );
    assert.ok(
      lines.some((l) => l.includes(`listeners[0].tls.sni: ${protocol} listeners take one certificate`)),
      lines.join("\n"),
    );
  }
});
