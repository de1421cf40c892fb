import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import { defaultHeader } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { until } from "../helpers/proxy.ts";
import { serverReply, sipRequest } from "../helpers/sip-attack.ts";
import { side } from "../helpers/sip-stream-kit.ts";
import { type SilentServer, startSilentServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A FastAGI server that takes every session and says nothing. */
async function heldServer(): Promise<SilentServer> {
  const s = await startSilentServer();
  cleanup.push(s.close);
  return s;
}

test("out of descriptors: connects and checks that fail EMFILE mark no server down, and the next call goes through", async (t) => {
  const plain = await heldServer();
  const checked = await heldServer();
  // A SIP server over TCP (the SIP listener's first transport faces the servers), answering 200.
  const fs = await side(t, "tcp", {
    onMessage: (m, s) => {
      if (m.message.kind !== "request" || m.message.method !== "INVITE") return;
      const req = serializeMessage(m.message).toString("latin1");
      s.t.send(m.source, Buffer.from(serverReply(req, "200 OK"), "latin1"), m.flow);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "tl-emfile-"));
  const file = join(dir, "t.yaml");
  writeFileSync(
    file,
    `
listeners:
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 120s, max_pending: 1000 }
  - { name: sip, protocol: sip, listen: 127.0.0.1:0, transports: [tcp, udp] }
routes:
  - { listener: agi, match: { path: ^/checked }, pool: checked }
  - { listener: agi, pool: plain }
  - { listener: sip, pool: fs }
pools:
  fs: { invite_timeout: 8s, max_fails: 1, servers: [ { address: 127.0.0.1:${fs.port} } ] }
  plain: { servers: [ { address: 127.0.0.1:${plain.port} } ] }
  checked:
    health: { interval: 100ms, timeout: 1s, rise: 1, fall: 1, checks: [ tcp ] }
    servers: [ { address: 127.0.0.1:${checked.port} } ]
`,
  );
  const proc = startCli(["run", "-c", file, "--no-watch"], { maxOpenFiles: 256 });
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started", 60_000);
  const portOf = (name: string) =>
    Number(proc.lines.find((l) => l.msg === "listening" && l.listener === name)?.port);
  const port = portOf("agi");
  // A SIP caller over UDP: it needs no descriptor of the proxy's.
  const udp = createSocket("udp4");
  cleanup.push(() => {
    udp.close();
  });
  const answers: string[] = [];
  udp.on("message", (b) => answers.push(b.toString("latin1")));
  await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
  const invite = (i: number) => {
    const at = Date.now();
    const text = sipRequest({
      method: "INVITE",
      uri: "sip:bob@127.0.0.1",
      via: `SIP/2.0/UDP 127.0.0.1:${udp.address().port};branch=z9hG4bK-emfile-${i};rport`,
      callId: `emfile-${i}@test`,
      fromTag: `e${i}`,
    });
    udp.send(text, portOf("sip"), "127.0.0.1");
    return async (status: string) => {
      const final = (a: string) => a.startsWith(status) && a.includes(`emfile-${i}@test`);
      await until(() => answers.some(final), 20_000, `INVITE ${i}: ${status}`);
      return Date.now() - at;
    };
  };
  const clients: { sock: Socket; closed: boolean }[] = [];
  cleanup.push(() => {
    for (const c of clients) c.sock.destroy();
  });
  const open = (header?: Buffer) => {
    const c = { sock: connect({ host: "127.0.0.1", port }), closed: false };
    c.sock.on("error", () => {});
    c.sock.on("close", () => {
      c.closed = true;
    });
    if (header) c.sock.write(header);
    clients.push(c);
    return c;
  };
  // 1. Connections that never send their header (header_timeout 120 s) take the descriptors
  // one by one, until a tcp check of the checked pool fails for want of one: reported as no
  // verdict (or, as before the fix, its server taken down).
  const checkFailed = (l: Record<string, unknown>) =>
    (l.code === "E_LOCAL_RESOURCE" && l.check === "tcp") ||
    (l.event === "server_state" && l.pool === "checked");
  for (let i = 0; i < 100 && !proc.lines.some(checkFailed); i++) {
    for (let j = 0; j < 4; j++) open();
    await until(() => proc.lines.some(checkFailed), 50, "").catch(() => {});
  }
  await proc.waitFor(checkFailed, 10_000);
  // 1b. Out of descriptors, an INVITE cannot get its TCP connection to the SIP server: the
  // caller hears 503 now, not at invite_timeout, and the server is not blamed.
  const sipMs = await invite(1)("SIP/2.0 503");
  t.diagnostic(`SIP: 503 after ${sipMs} ms with no descriptor for the server's connection`);
  assert.ok(sipMs < 4_000, `the INVITE waited ${sipMs} ms`);
  // 2. One descriptor at a time is given back (an idle connection closes) and a call to the
  // plain pool takes it at accept: its connect to the server fails EMFILE.
  // A FastAGI session's line (step 1b's SIP call has one with EMFILE too: not this step's).
  const local = (l: Record<string, unknown>) =>
    l.event === "session" &&
    l.call_id === undefined &&
    Array.isArray(l.failed_attempts) &&
    (l.failed_attempts as { error?: string }[]).some((a) => /EMFILE|ENFILE/.test(a.error ?? ""));
  for (let i = 0; i < 30 && !proc.lines.some(local); i++) {
    clients.find((c) => !c.closed)?.sock.destroy();
    const reached = plain.read().split("\n\n").length;
    const call = open(defaultHeader({ url: `agi://x/plain/${i}` }));
    const settled = () =>
      proc.lines.some(local) || call.closed || plain.read().split("\n\n").length > reached;
    await until(settled, 5_000, "the call settled").catch(() => {});
  }
  await proc.waitFor(local, 10_000);
  // 3. Everything is given back.
  for (const c of clients) c.sock.destroy();
  await until(() => plain.open() === 0, 15_000, "every held session ended");

  await invite(2)("SIP/2.0 200");
  const down = proc.lines.filter(
    (l) => l.event === "server_state" && (l.to === "down" || l.what === "passive"),
  );
  assert.deepEqual(down, [], "no server was marked down for the proxy's own shortage");
  // Both pools take the next call at once: nothing to wait out.
  for (const [path, srv] of [
    ["plain/after", plain],
    ["checked/after", checked],
  ] as const) {
    open(defaultHeader({ url: `agi://x/${path}` }));
    await until(() => srv.read().includes(`/${path}`), 10_000, `${path} reached its server`);
  }
  assert.ok(
    proc.lines.some(
      (l) =>
        local(l) && (l.failed_attempts as { code?: string }[]).every((a) => a.code === "E_LOCAL_RESOURCE"),
    ),
    "a connect that failed for want of descriptors is E_LOCAL_RESOURCE",
  );
});
