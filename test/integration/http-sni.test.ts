// HTTPS certificates chosen by SNI (issue #14): each handshake gets the certificate of the
// name the client asked for (exact, then a one-label wildcard, then the default), a request
// goes through on it, and a reload swapping one SNI certificate reaches the next handshake
// while an open keep-alive connection goes on.
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { test } from "node:test";
import type { TLSSocket } from "node:tls";
import { httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";
import { makeCerts } from "../helpers/tls-sni-certs.ts";

interface Seen {
  cn: string;
  san: string | undefined;
  status: number;
  origin: string | undefined;
  reused: boolean;
  socket: TLSSocket;
}

/** One GET on a handshake for `servername` ("" sends no SNI); the certificate the proxy showed. */
function get(port: number, ca: Buffer, servername: string, agent: Agent | false = false): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/",
      ca,
      agent,
      servername,
      // The default certificate does not name every host asked for; the test reads what came.
      // Not on the keep-alive agent: Node 24's agent does not reuse a socket whose request
      // had its own checkServerIdentity (Node 20 does); that test asks for names its
      // certificates hold.
      ...(agent === false ? { checkServerIdentity: () => undefined } : {}),
      headers: { host: "app.test" },
      timeout: 10_000,
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.on("response", (res) => {
      const socket = res.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.resume();
      res.on("end", () =>
        resolve({
          cn: String(peer.subject.CN),
          san: peer.subjectaltname,
          status: res.statusCode ?? 0,
          origin: res.headers["x-origin"] as string | undefined,
          reused: req.reusedSocket,
          socket,
        }),
      );
    });
    req.end();
  });
}

const LEAVES = [
  { name: "default", cn: "cert-default", san: "DNS:default.test" },
  { name: "a", cn: "cert-a", san: "DNS:a.test" },
  { name: "b", cn: "cert-b", san: "DNS:b.test" },
  { name: "wild", cn: "cert-wild", san: "DNS:*.wild.test" },
];

function listenerTls(f: (n: string) => string): string {
  const pair = (n: string) => `{ cert: ${f(`${n}.pem`)}, key: ${f(`${n}.key`)} }`;
  return `, tls: { cert: ${f("default.pem")}, key: ${f("default.key")}, sni: [ ${pair("a")}, ${pair("b")}, ${pair("wild")} ] }`;
}

test("each handshake gets the certificate of its SNI name, and a request goes through on it", {
  timeout: 60_000,
}, async (t) => {
  const certs = makeCerts(LEAVES);
  t.after(() => certs.remove());
  const origin = await startOrigin(t, "o");
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: o }", pool("o", [origin.port]), listenerTls(certs.file)),
  );
  t.after(() => p.close());
  const port = p.port("web");
  const cases: [string, string][] = [
    ["a.test", "cert-a"],
    ["B.TEST", "cert-b"],
    ["x.wild.test", "cert-wild"],
    ["deep.x.wild.test", "cert-default"],
    ["wild.test", "cert-default"],
    ["unknown.test", "cert-default"],
    ["", "cert-default"],
  ];
  for (const [name, cn] of cases) {
    const s = await get(port, certs.ca, name);
    assert.equal(s.cn, cn, `SNI ${JSON.stringify(name)}`);
    assert.equal(s.status, 200, `SNI ${JSON.stringify(name)}`);
    assert.equal(s.origin, "o");
  }
  assert.equal(origin.requests, cases.length);
});

test("a reload swapping one SNI certificate reaches the next handshake; an open keep-alive connection goes on", {
  timeout: 60_000,
}, async (t) => {
  const certs = makeCerts([...LEAVES, { name: "a2", cn: "cert-a-renewed", san: "DNS:a.test" }]);
  t.after(() => certs.remove());
  const origin = await startOrigin(t, "o");
  const p = await startProxy(
    httpConfig("  - { listener: web, pool: o }", pool("o", [origin.port]), listenerTls(certs.file)),
  );
  t.after(() => p.close());
  const port = p.port("web");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  const first = await get(port, certs.ca, "a.test", agent);
  assert.equal(first.cn, "cert-a");
  copyFileSync(certs.file("a2.pem"), certs.file("a.pem"));
  copyFileSync(certs.file("a2.key"), certs.file("a.key"));
  assert.equal((await p.proxy.reload("SIGHUP")).kind, "applied");
  await p.waitForLog((r) => r.msg === "TLS certificates reloaded" && r.listener === "web", 10_000);

  const kept = await get(port, certs.ca, "a.test", agent);
  assert.equal(kept.reused, true, "the keep-alive connection was reused");
  assert.equal(kept.socket, first.socket);
  assert.equal(kept.cn, "cert-a", "an open connection keeps the certificate of its handshake");
  assert.equal(kept.status, 200);

  const fresh = await get(port, certs.ca, "a.test");
  assert.equal(fresh.cn, "cert-a-renewed");
  assert.equal(fresh.status, 200);
  assert.equal((await get(port, certs.ca, "b.test")).cn, "cert-b", "the other SNI certificates stay");
  assert.equal((await get(port, certs.ca, "unknown.test")).cn, "cert-default");
});
