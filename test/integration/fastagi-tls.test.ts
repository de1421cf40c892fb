import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});
const TLS = new URL("../fixtures/tls/", import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, TLS));
const files = Object.fromEntries(
  [
    "ca.pem",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
    "rogue-ca.pem",
    "rogue-server.pem",
    "rogue-server.key",
  ].map((n) => [n, pem(n)]),
);

test("TLS toward Asterisk: client certificates required when a CA is set", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(
    `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, tls: { cert: server.pem, key: server.key, ca: ca.pem } }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files },
  );
  cleanup.push(p.close);
  const good = await agiCall({
    port: p.port(),
    url: "agi://x/y",
    tls: {
      ca: files["ca.pem"],
      cert: files["client.pem"],
      key: files["client.key"],
      servername: "localhost",
    },
  });
  assert.equal(good.status, "SUCCESS");
  assert.deepEqual(good.commands, ["NOOP"]);
  const noCert = await agiCall({
    port: p.port(),
    url: "agi://x/y",
    tls: { ca: files["ca.pem"], servername: "localhost" },
    timeoutMs: 3000,
  });
  assert.notEqual(noCert.status, "SUCCESS");
  await p.waitForLog((l) => l.msg === "TLS handshake with client failed");
  assert.equal(up.stats.sessions, 1, "the client without a certificate never reached the upstream");
});

test("TLS toward servers: verified against the pool's CA; a handshake failure fails over", async () => {
  const rogue = await startAgiServer({
    commands: ["NOOP"],
    tls: { cert: files["rogue-server.pem"], key: files["rogue-server.key"] },
  });
  const good = await startAgiServer({
    commands: ["NOOP", "NOOP"],
    tls: {
      cert: files["server.pem"],
      key: files["server.key"],
      ca: files["ca.pem"],
      requestCert: true,
      rejectUnauthorized: true,
    },
  });
  cleanup.push(rogue.close, good.close);
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    servers:
      - { address: 127.0.0.1:${rogue.port}, tls: { ca: ca.pem, cert: client.pem, key: client.key } }
      - { address: 127.0.0.1:${good.port}, tls: { ca: ca.pem, cert: client.pem, key: client.key, servername: localhost } }
`,
    { files },
  );
  cleanup.push(p.close);
  const r = await agiCall({ port: p.port(), url: "agi://x/y" });
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP", "NOOP"]);
  const s = await p.waitForLog((l) => l.event === "session");
  assert.equal(s.server, `127.0.0.1:${good.port}`);
  const attempts = s.failed_attempts as { error: string }[];
  assert.match(attempts[0]!.error, /certificate|UNABLE_TO_VERIFY|self.signed/i);
});

test("a reload picks up new listener certificates for the next handshake", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, tls: { cert: live.pem, key: live.key } } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { ...files, "live.pem": files["server.pem"]!, "live.key": files["server.key"]! } },
  );
  cleanup.push(p.close);
  const issuer = () =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false }, () => {
        const cn = s.getPeerCertificate().issuer.CN;
        s.destroy();
        resolve(String(cn));
      });
      s.on("error", reject);
    });
  assert.equal(await issuer(), "Trunkline Test CA");
  copyFileSync(join(p.dir, "rogue-server.pem"), join(p.dir, "live.pem"));
  copyFileSync(join(p.dir, "rogue-server.key"), join(p.dir, "live.key"));
  assert.equal((await p.proxy.reload("SIGHUP")).kind, "applied");
  assert.equal(await issuer(), "Rogue Test CA");
});

test("a reload that leaves the certificate files as they were does not reload TLS", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const config = (route: string) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, tls: { cert: live.pem, key: live.key } } ]
routes: [ { name: ${route}, listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`;
  const p = await startProxy(config("first"), {
    files: { ...files, "live.pem": files["server.pem"]!, "live.key": files["server.key"]! },
  });
  cleanup.push(p.close);
  const reloaded = () => p.logs.filter((r) => r.msg === "TLS certificates reloaded").length;
  // Only a route changes: the snapshot reads the same files into new Buffers.
  p.writeConfig(config("second"));
  assert.equal((await p.proxy.reload("SIGHUP")).kind, "applied");
  assert.equal(reloaded(), 0);
  copyFileSync(join(p.dir, "rogue-server.pem"), join(p.dir, "live.pem"));
  copyFileSync(join(p.dir, "rogue-server.key"), join(p.dir, "live.key"));
  assert.equal((await p.proxy.reload("SIGHUP")).kind, "applied");
  assert.equal(reloaded(), 1);
});
