/**
 * Hostile reloads of a running `trunkline run` (a process: a defect that blocks its event
 * loop must not block the test's). A reload that fails keeps the old config serving; a
 * session in flight is never dropped; the process stays responsive and bounded.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { alive, fdCount, type Watched, watchCli } from "../helpers/config-attack.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-cfgatk-reload-"));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function yaml(agi: number, admin: number, upstream: number, extra = ""): string {
  return (
    `admin: { listen: 127.0.0.1:${admin} }\n` +
    `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${agi} } ]\n` +
    "routes: [ { listener: agi, pool: main } ]\n" +
    `pools: { main: { servers: [ { address: 127.0.0.1:${upstream} } ] } }\n${extra}`
  );
}

/** Replaces `file` as an editor does (temp file, rename). */
function replace(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** GET on the admin API; the JSON, or an Error when there is no answer within `ms`. */
function adminGet(port: number, path: string, ms: number): Promise<Record<string, unknown> | Error> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => {
        clearTimeout(t);
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (err) {
          resolve(err as Error);
        }
      });
      res.on("error", (err) => resolve(err));
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${ms} ms`)), ms);
    req.on("error", (err) => {
      clearTimeout(t);
      resolve(err);
    });
    req.end();
  });
}

async function startRun(file: string, extraArgs: string[] = []): Promise<Watched> {
  const w = watchCli(["run", "-c", file, "--no-watch", ...extraArgs], { rssCapMb: 400 });
  cleanup.push(() => w.kill());
  await w.waitFor((l) => l.msg === "trunkline started", 15_000);
  return w;
}

// A defect found by attacking the proxy, fixed: a config path replaced by a FIFO freezes the running proxy on SIGHUP: readConfigText's readFileSync blocks the event loop until a writer comes (sessions, admin API, signals all stop).
test("SIGHUP with the config replaced by a FIFO: the proxy keeps serving sessions and its admin API, and rejects the reload", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const [agi, admin] = [await freePort(), await freePort()];
  const file = join(dir, "fifo.yaml");
  writeFileSync(file, yaml(agi, admin, up.port));
  const w = await startRun(file);
  const fifo = join(dir, "fifo.tmp");
  execFileSync("mkfifo", [fifo]);
  renameSync(fifo, file);
  // Whatever happens, the FIFO's reader (if any) gets its EOF at the end, so nothing stays blocked.
  cleanup.push(() => {
    try {
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {}
  });
  w.child.kill("SIGHUP");
  await new Promise((r) => setTimeout(r, 300));
  const status = await adminGet(admin, "/api/v1/status", 3_000);
  assert.ok(!(status instanceof Error), `admin API: ${String(status)}`);
  const s = await agiCall({ port: agi, url: "agi://x/y", timeoutMs: 3_000 });
  assert.equal(s.status, "SUCCESS", `a session after the SIGHUP: ${s.closedBy} ${s.error?.message ?? ""}`);
  const rejected = await w.waitFor((l) => l.event === "reload", 3_000);
  assert.equal(rejected.code, "E_CONFIG_READ");
});

// A defect found by attacking the proxy, fixed: a reload whose TLS cert is /dev/zero is read whole on the event loop (config/context.ts readFile): the proxy stops answering and its memory grows without end, instead of rejecting the reload.
test("a reload naming /dev/zero as a listener's TLS cert is rejected in bounded time and memory; the old config serves on", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const [agi, admin] = [await freePort(), await freePort()];
  const file = join(dir, "zero.yaml");
  writeFileSync(file, yaml(agi, admin, up.port));
  const w = await startRun(file);
  replace(
    file,
    yaml(agi, admin, up.port).replace(
      `listen: 127.0.0.1:${agi} }`,
      `listen: 127.0.0.1:${agi}, tls: { cert: /dev/zero, key: /dev/zero } }`,
    ),
  );
  w.child.kill("SIGHUP");
  const r = await w.waitFor((l) => l.event === "reload", 5_000).catch((err: Error) => err);
  assert.equal(w.killedFor(), undefined, `RSS passed 400 MiB (peak ${Math.round(w.peakRssMb())} MiB)`);
  assert.ok(!(r instanceof Error), `no reload line within 5 s: ${String(r).slice(0, 300)}`);
  assert.equal(r.code, "E_CONFIG_INVALID");
  assert.match(String(r.error), /listeners\[0\]\.tls\.cert/);
  const s = await agiCall({ port: agi, url: "agi://x/y", timeoutMs: 3_000 });
  assert.equal(s.status, "SUCCESS");
});

// Passes: a SIGHUP storm over alternating valid and invalid configs, sessions in flight.
test("200 SIGHUPs in a second over alternating valid and invalid configs: sessions in flight complete, the last valid config wins, no descriptor left behind", async () => {
  const a = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 1_500 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  const [agi, admin] = [await freePort(), await freePort()];
  const file = join(dir, "storm.yaml");
  writeFileSync(file, yaml(agi, admin, a.port));
  const w = await startRun(file);
  // Warm up: one session, so lazily opened descriptors are counted in the baseline.
  assert.equal((await agiCall({ port: agi, url: "agi://x/y", timeoutMs: 5_000 })).status, "SUCCESS");
  await new Promise((r) => setTimeout(r, 300));
  const fdBefore = fdCount(w.pid);
  const inflight = Array.from({ length: 10 }, () =>
    agiCall({ port: agi, url: "agi://x/y", timeoutMs: 8_000 }),
  );
  const variants = [
    yaml(agi, admin, a.port),
    yaml(agi, admin, b.port),
    yaml(agi, admin, a.port).replace("pool: main", "pool: missing"),
    yaml(agi, admin, b.port, "shutdown_timeout: 1s\n"),
    "listeners: [ { name: agi\n",
  ];
  const t0 = Date.now();
  for (let i = 0; i < 200 && Date.now() - t0 < 5_000; i++) {
    replace(file, variants[i % variants.length]!);
    w.child.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 5));
  }
  // The last word: b, valid.
  replace(file, yaml(agi, admin, b.port, "# last\n"));
  w.child.kill("SIGHUP");
  const results = await Promise.all(inflight);
  assert.deepEqual(
    results.map((r) => r.status),
    Array(10).fill("SUCCESS"),
  );
  // Reloads never overlap; wait for the last one to be in.
  const end = Date.now() + 10_000;
  let sessionToB = false;
  while (Date.now() < end) {
    const before = b.stats.sessions;
    const r = await agiCall({ port: agi, url: "agi://x/y", timeoutMs: 3_000 });
    if (r.status === "SUCCESS" && b.stats.sessions > before) {
      const st = await adminGet(admin, "/api/v1/status", 2_000);
      const lastReload = (st as { last_reload?: { outcome?: string } }).last_reload;
      if (lastReload === undefined || lastReload.outcome !== "rejected") {
        sessionToB = true;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(sessionToB, "the last valid config (pool on b) serves");
  assert.ok(alive(w.pid), "still running");
  await Promise.all([a.waitIdle(5_000), b.waitIdle(5_000)]);
  await new Promise((r) => setTimeout(r, 500));
  const fdAfter = fdCount(w.pid);
  assert.ok(fdAfter <= fdBefore + 3, `descriptors: ${fdBefore} before, ${fdAfter} after`);
  const listening = execFileSync("ss", ["-Hltn", `sport = :${agi}`], { encoding: "utf8" })
    .trim()
    .split("\n");
  assert.equal(listening.length, 1, `sockets listening on the FastAGI port: ${listening.join(" | ")}`);
});
