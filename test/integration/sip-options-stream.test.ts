// sip-options pings over TCP and TLS, for pools whose servers are reached over a stream (a
// FreeSWITCH TLS profile on 5061 has no UDP port to ping): real sockets, a responder that
// frames the OPTIONS off the stream and answers on the connection, the test certificates.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import type { HealthConfig, TlsClientConfig } from "../../src/config/types.ts";
import { isRefusal, SIP_OPTIONS_STREAM_REFUSED } from "../../src/health/refusal.ts";
import { probeSipOptionsStream } from "../../src/health/sip-options-stream.ts";
import { SipStreamFramer } from "../../src/protocols/sip/framer.ts";
import { headerValues } from "../../src/protocols/sip/headers.ts";
import type { SipRequest } from "../../src/protocols/sip/types.ts";
import { healthRig, poolConfig, waitFor } from "../helpers/sip-pool.ts";

const TLS = new URL("../fixtures/tls/", import.meta.url);
const file = (n: string) => readFileSync(new URL(n, TLS));

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** What the responder does with an OPTIONS: answer with these statuses, say garbage, close, or nothing. */
type Mode = { answer: number[] } | "garbage" | "close" | "silent";

interface Responder {
  port: number;
  mode: Mode;
  /** The requests it read, and how many connections are open now. */
  seen: SipRequest[];
  open: () => number;
  close: () => Promise<void>;
}

function answer(req: SipRequest, status: number): string {
  const copy = (name: string) => headerValues(req, name).map((v) => `${name}: ${v}\r\n`);
  return [
    `SIP/2.0 ${status} ${status === 100 ? "Trying" : "Whatever"}\r\n`,
    ...copy("Via"),
    ...copy("From"),
    `To: ${headerValues(req, "to")[0]};tag=resp\r\n`,
    ...copy("Call-ID"),
    ...copy("CSeq"),
    "Content-Length: 0\r\n\r\n",
  ].join("");
}

async function responder(tls: boolean, mode: Mode): Promise<Responder> {
  const sockets = new Set<Socket>();
  const r = { mode, seen: [] as SipRequest[] } as Responder;
  const onConn = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    const framer = new SipStreamFramer();
    s.on("data", (chunk: Buffer) => {
      for (const m of framer.push(chunk).messages) {
        if (m.kind !== "request") continue;
        r.seen.push(m);
        const how = r.mode;
        if (how === "silent") continue;
        if (how === "close") s.destroy();
        else if (how === "garbage") s.write("HTTP/1.1 400 Bad Request\r\n\r\n");
        else {
          // Each answer in two writes, cut inside the headers: the prober frames a stream.
          for (const status of how.answer) {
            const text = answer(m, status);
            s.write(text.slice(0, 20));
            s.write(text.slice(20));
          }
        }
      }
    });
  };
  const server: Server = tls
    ? createTlsServer({ cert: file("server.pem"), key: file("server.key") }, onConn)
    : createServer(onConn);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  r.port = (server.address() as { port: number }).port;
  r.open = () => sockets.size;
  r.close = async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, "close");
  };
  cleanup.push(r.close);
  return r;
}

const trustTest: TlsClientConfig = {
  ca: file("ca.pem"),
  cert: undefined,
  key: undefined,
  servername: undefined,
  verify: true,
};

test("sip-options over TCP: the OPTIONS names TCP in its Via and URI; 100 is waited past, the 200 counts", async () => {
  const r = await responder(false, { answer: [100, 200] });
  const res = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: r.port,
    timeoutMs: 2000,
    transport: "tcp",
  });
  assert.deepEqual(res, { ok: true, status: 200 });
  const req = r.seen[0];
  assert.equal(req?.method, "OPTIONS");
  assert.equal(req?.uri, `sip:127.0.0.1:${r.port};transport=tcp`);
  assert.match(headerValues(req, "via")[0] ?? "", /^SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
  await waitFor(() => r.open() === 0, "the probe's connection closed");
});

test("sip-options over TCP: any final answer is a live server, a 503 too", async () => {
  const r = await responder(false, { answer: [503] });
  const res = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: r.port,
    timeoutMs: 2000,
    transport: "tcp",
  });
  assert.deepEqual(res, { ok: true, status: 503 });
});

test("sip-options over TCP: a closed port is refused, in words the server-gone rule knows", async () => {
  const r = await responder(false, "silent");
  const port = r.port;
  await r.close();
  const res = await probeSipOptionsStream({ host: "127.0.0.1", port, timeoutMs: 2000, transport: "tcp" });
  assert.deepEqual(res, { ok: false, reason: SIP_OPTIONS_STREAM_REFUSED });
  assert.ok(isRefusal(SIP_OPTIONS_STREAM_REFUSED));
});

test("sip-options over TCP: silence, garbage and a hang-up each fail with their cause, and leave no connection", async () => {
  const silent = await responder(false, "silent");
  const t0 = performance.now();
  const a = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: silent.port,
    timeoutMs: 300,
    transport: "tcp",
  });
  assert.deepEqual(a, { ok: false, reason: "sip-options: no answer within 300ms" });
  assert.ok(performance.now() - t0 < 2000, "bounded by the timeout");
  await waitFor(() => silent.open() === 0, "the silent server's connection closed by the prober");

  const garbage = await responder(false, "garbage");
  const b = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: garbage.port,
    timeoutMs: 2000,
    transport: "tcp",
  });
  assert.equal(b.ok, false);
  assert.match(b.ok ? "" : b.reason, /^sip-options: unreadable answer \(\w+\)$/);
  assert.ok(!isRefusal(b.ok ? "" : b.reason), "a server that speaks is not gone");

  const hangup = await responder(false, "close");
  const c = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: hangup.port,
    timeoutMs: 2000,
    transport: "tcp",
  });
  assert.deepEqual(c, { ok: false, reason: "sip-options: connection closed with no answer" });
});

test("sip-options over TLS: the server's own tls: is trusted and verified; a CA that did not sign it fails", async () => {
  const r = await responder(true, { answer: [200] });
  const ok = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: r.port,
    timeoutMs: 2000,
    transport: "tls",
    tls: trustTest,
  });
  assert.deepEqual(ok, { ok: true, status: 200 });
  assert.match(headerValues(r.seen[0] as SipRequest, "via")[0] ?? "", /^SIP\/2\.0\/TLS /);
  assert.equal(r.seen[0]?.uri, `sip:127.0.0.1:${r.port};transport=tls`);

  const rogue = await probeSipOptionsStream({
    host: "127.0.0.1",
    port: r.port,
    timeoutMs: 2000,
    transport: "tls",
    tls: { ...trustTest, ca: file("rogue-ca.pem") },
  });
  assert.equal(rogue.ok, false);
  assert.match(rogue.ok ? "" : rogue.reason, /^sip-options: [A-Z_]+$/, "the TLS error's code");
  assert.equal(r.seen.length, 1, "no OPTIONS sent to an unverified server");
});

test("health checks: a TLS-only server in a pool pinged over TLS is up, and down (refused) once it stops listening", async () => {
  const r = await responder(true, { answer: [200] });
  const health: HealthConfig = {
    intervalMs: 50,
    timeoutMs: 500,
    rise: 1,
    fall: 2,
    checks: [{ kind: "sip-options", transport: "tls" }],
  };
  const pool = poolConfig([{ port: r.port }], { health });
  const rig = healthRig([{ ...pool, servers: pool.servers.map((s) => ({ ...s, tls: trustTest })) }]);
  const s = rig.registry.get(`127.0.0.1:${r.port}`)!;
  const probes: string[] = [];
  rig.events.on("health.probe", (p) => probes.push(p.reason));
  await waitFor(() => probes.includes("sip-options: answered 200") && s.health === "up", "up by TLS pings");
  await r.close();
  await waitFor(() => s.health === "down", "down once nothing listens");
  assert.equal(s.healthReason, SIP_OPTIONS_STREAM_REFUSED);
});
