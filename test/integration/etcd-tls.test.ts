import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TrunklineProxy } from "../../src/app/proxy.ts";
import { ConfigError } from "../../src/config/load.ts";
import { makeCerts, startEtcd, type TestCerts, type TestEtcd } from "../helpers/etcd.ts";
import { memoryLog, startProxy, type TestProxy, until } from "../helpers/proxy.ts";

let certs: TestCerts;
let etcd: TestEtcd;
const cleanup: (() => Promise<void>)[] = [];
before(async () => {
  certs = await makeCerts();
  etcd = await startEtcd({ tls: certs });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await etcd.close();
});

/** The file's own route serves whatever etcd does; etcd's TLS files sit next to the config. */
function fileConfig(prefix: string, tls: string): string {
  return `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
pools:
  p: { servers: [ { address: 127.0.0.1:1 } ] }
routes: [ { name: fileroute, listener: agi, match: { path: /file }, pool: p } ]
config:
  etcd:
    endpoints: [ ${etcd.endpoint} ]
    prefix: ${prefix}
    cache: etcd-cache.json
    tls: ${tls}
`;
}

async function proxyOn(yaml: string, files: Record<string, string>): Promise<TestProxy> {
  const p = await startProxy(yaml, { watch: true, files });
  cleanup.push(p.close);
  return p;
}

const names = (p: TestProxy) => p.proxy.snapshot.routes.map((r) => r.name);
const route = (path: string) => JSON.stringify({ listener: "agi", pool: "p", match: { path } });

test("a proxy reads and follows its routes from etcd over TLS with a client certificate", async () => {
  await etcd.put("/tls1/routes/fromtls", route("/tls"));
  const p = await proxyOn(fileConfig("/tls1/", "{ ca: ca.pem, cert: client.pem, key: client.key }"), {
    "ca.pem": certs.ca,
    "client.pem": certs.clientCert,
    "client.key": certs.clientKey,
  });
  assert.deepEqual(names(p), ["fileroute", "fromtls"]);
  assert.equal(p.proxy.source.view().state, "up");
  const t0 = Date.now();
  await etcd.put("/tls1/routes/later", route("/later"));
  await until(() => names(p).includes("later"), 5_000, "route put over TLS applied");
  const ms = Date.now() - t0;
  assert.ok(ms < 1_000, `applied in ${ms} ms`);
});

test("a CA that did not sign etcd's certificate: the source is down with the reason, the file serves", async () => {
  await etcd.put("/tls2/routes/unseen", route("/unseen"));
  const p = await proxyOn(fileConfig("/tls2/", "{ ca: other.pem, cert: client.pem, key: client.key }"), {
    "other.pem": certs.otherCa,
    "client.pem": certs.clientCert,
    "client.key": certs.clientKey,
  });
  assert.deepEqual(names(p), ["fileroute"]);
  const v = p.proxy.source.view();
  assert.equal(v.state, "down");
  assert.match(v.last_error ?? "", /unable to verify the first certificate/);
  const line = await p.waitForLog((r) => r.event === "config_source" && r.state === "down");
  assert.equal(typeof line.error, "string");
});

test("without a client certificate etcd refuses: down with the reason, the file serves", async () => {
  const p = await proxyOn(fileConfig("/tls3/", "{ ca: ca.pem }"), { "ca.pem": certs.ca });
  assert.deepEqual(names(p), ["fileroute"]);
  assert.equal(p.proxy.source.view().state, "down");
  assert.match(p.proxy.source.view().last_error ?? "", /bad certificate/);
});

test("a TLS file that is missing is a config error at its place in the file, relative to the config", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-etcd-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "trunkline.yaml");
  writeFileSync(join(dir, "ca.pem"), certs.ca);
  writeFileSync(file, fileConfig("/tls4/", "{ ca: ca.pem, cert: missing.pem, key: client.key }"));
  await assert.rejects(
    TrunklineProxy.start({
      configFile: file,
      watch: false,
      logging: () => ({ log: memoryLog([]), reconfigure() {}, close: async () => {} }),
    }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.message;
      assert.match(text, /trunkline\.yaml:11:\d+ config\.etcd\.tls\.cert: cannot read .*\/missing\.pem/);
      assert.match(text, /trunkline\.yaml:11:\d+ config\.etcd\.tls\.key: cannot read .*\/client\.key/);
      assert.doesNotMatch(text, /tls\.ca/);
      return true;
    },
  );
});
