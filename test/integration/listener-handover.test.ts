import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { agiCall } from "../helpers/asterisk.ts";
import { freePort } from "../helpers/ports.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const TLS = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function config(port: number, upstream: number, tls: boolean, extra = ""): string {
  const t = tls ? `, tls: { cert: ${TLS}server.pem, key: ${TLS}server.key }` : "";
  return `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:${port}${t} }
${extra}
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${upstream} } ] } }
`;
}

test("turning TLS on and off on the same address hands the socket over; a session in flight carries on", async () => {
  const up = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 600 });
  cleanup.push(up.close);
  const port = await freePort();
  const p = await startProxy(config(port, up.port, false));
  cleanup.push(p.close);
  const inFlight = agiCall({ port, url: "agi://x/held" });
  await until(() => p.proxy.runtime.activeSessions === 1, 3000, "session in flight");

  p.writeConfig(config(port, up.port, true));
  assert.equal((await p.proxy.reload("tls on")).kind, "applied");
  const overTls = await agiCall({ port, url: "agi://x/tls", tls: { rejectUnauthorized: false } });
  assert.equal(overTls.status, "SUCCESS");
  assert.deepEqual(overTls.commands, ["NOOP", "NOOP"]);

  p.writeConfig(config(port, up.port, false));
  assert.equal((await p.proxy.reload("tls off")).kind, "applied");
  const plain = await agiCall({ port, url: "agi://x/plain" });
  assert.equal(plain.status, "SUCCESS");

  const first = await inFlight;
  assert.equal(first.status, "SUCCESS");
  assert.deepEqual(first.commands, ["NOOP", "NOOP"]);
});

test("a hand-over rolled back: when another listener of the reload cannot bind, the old socket takes its address back", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const port = await freePort();
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => squatter.close(() => r())));
  const taken = (squatter.address() as { port: number }).port;
  const p = await startProxy(config(port, up.port, false));
  cleanup.push(p.close);

  p.writeConfig(
    config(port, up.port, true, `  - { name: other, protocol: fastagi, listen: 127.0.0.1:${taken} }`),
  );
  const r = await p.proxy.reload("tls on, plus a listener on a taken port");
  assert.equal(r.kind, "rejected");
  assert.match(r.kind === "rejected" ? r.error : "", /listener other cannot listen/);
  // The plain listener is back on its address and serves.
  const plain = await agiCall({ port, url: "agi://x/plain" });
  assert.equal(plain.status, "SUCCESS");
  assert.deepEqual(plain.commands, ["NOOP"]);
});
