import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { defaultHeader } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { until } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A FastAGI server that takes every session and says nothing; it keeps each header it read. */
async function heldServer(): Promise<{
  port: number;
  headers: string[];
  open: () => number;
  server: Server;
}> {
  const held = new Set<Socket>();
  const headers: string[] = [];
  const server = createServer((s) => {
    held.add(s);
    let text = "";
    s.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.includes("\n\n")) headers.push(text);
    });
    s.on("error", () => {});
    s.on("close", () => held.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as { port: number }).port, headers, open: () => held.size, server };
}

test("out of descriptors: connects and checks that fail EMFILE mark no server down, and the next call goes through", async () => {
  const plain = await heldServer();
  const checked = await heldServer();
  const dir = mkdtempSync(join(tmpdir(), "tl-emfile-"));
  const file = join(dir, "t.yaml");
  writeFileSync(
    file,
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { path: ^/checked }, pool: checked }
  - { listener: agi, pool: plain }
pools:
  plain: { servers: [ { address: 127.0.0.1:${plain.port} } ] }
  checked:
    health: { interval: 100ms, timeout: 1s, rise: 1, fall: 1, checks: [ tcp ] }
    servers: [ { address: 127.0.0.1:${checked.port} } ]
`,
  );
  // 256 descriptors: about 110 sessions (one socket each way) use up what start-up leaves.
  const proc = startCli(["run", "-c", file, "--no-watch"], { maxOpenFiles: 256 });
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started", 60_000);
  const port = Number(proc.lines.find((l) => l.msg === "listening")?.port);
  const clients: Socket[] = [];
  cleanup.push(() => {
    for (const c of clients) c.destroy();
  });
  const local = (l: Record<string, unknown>) =>
    l.event === "session" &&
    Array.isArray(l.failed_attempts) &&
    (l.failed_attempts as { error?: string }[]).some((a) => /EMFILE|ENFILE/.test(a.error ?? ""));
  // Sessions to the plain pool, 20 at a time, until connects fail for want of descriptors.
  for (let round = 0; round < 30 && !proc.lines.some(local); round++) {
    for (let i = 0; i < 20; i++) {
      const c = connect({ host: "127.0.0.1", port });
      c.on("error", () => {});
      c.write(defaultHeader({ url: `agi://x/plain/${round}/${i}` }));
      clients.push(c);
    }
    await until(
      () => plain.open() + proc.lines.filter((l) => l.event === "session").length >= clients.length - 20,
      10_000,
      "the round's sessions settled",
    ).catch(() => {});
  }
  await proc.waitFor(local, 10_000);
  // The checked pool's tcp checks run every 100 ms while the descriptors are gone: one is
  // reported as no verdict (or, as before the fix, takes its server down).
  await proc.waitFor(
    (l) =>
      (l.code === "E_LOCAL_RESOURCE" && l.check === "tcp") ||
      (l.event === "server_state" && l.pool === "checked"),
    10_000,
  );
  for (const c of clients) c.destroy();
  await until(() => plain.open() === 0, 15_000, "every held session ended");

  const down = proc.lines.filter((l) => l.event === "server_state" && l.to === "down");
  assert.deepEqual(down, [], "no server was marked down for the proxy's own shortage");
  // Both pools take the next call at once: nothing to wait out.
  for (const [path, srv] of [
    ["plain/after", plain],
    ["checked/after", checked],
  ] as const) {
    const c = connect({ host: "127.0.0.1", port });
    c.on("error", () => {});
    clients.push(c);
    c.write(defaultHeader({ url: `agi://x/${path}` }));
    await until(() => srv.headers.some((h) => h.includes(`/${path}`)), 10_000, `${path} reached its server`);
  }
  assert.ok(
    proc.lines.some(
      (l) =>
        local(l) && (l.failed_attempts as { code?: string }[]).every((a) => a.code === "E_LOCAL_RESOURCE"),
    ),
    "a connect that failed for want of descriptors is E_LOCAL_RESOURCE",
  );
});
