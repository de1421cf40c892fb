import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { reusePortSupported } from "../../src/net/reuse-port.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { type Running, runCli, startCli } from "../helpers/cli.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

const SUPPORTED = reusePortSupported();
const dir = mkdtempSync(join(tmpdir(), "trunkline-takeover-"));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, port: number, upstream: number, admin?: number): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `${admin === undefined ? "" : `admin: { listen: 127.0.0.1:${admin} }\n`}` +
      `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${port} } ]\n` +
      "routes: [ { listener: agi, pool: main } ]\n" +
      `pools: { main: { servers: [ { address: 127.0.0.1:${upstream} } ] } }\n`,
  );
  return file;
}

function start(args: string[]): Running {
  const r = startCli(args);
  cleanup.push(() => {
    if (r.child.exitCode === null) r.kill();
  });
  return r;
}

const started = (l: Record<string, unknown>) => l.msg === "trunkline started";
const sessionEnded = (l: Record<string, unknown>) => l.msg === "session ended";

test("reusePort: this Node's answer is what the kernel does with a second bind of a shared port", async () => {
  const opts = { host: "127.0.0.1", port: 0, reusePort: true };
  const a: Server = createServer();
  await new Promise<void>((r) => a.listen(opts, () => r()));
  const port = (a.address() as { port: number }).port;
  const b: Server = createServer();
  const second = await new Promise<string>((resolve) => {
    b.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    b.listen({ ...opts, port }, () => resolve("bound"));
  });
  await new Promise<void>((r) => a.close(() => r()));
  if (b.listening) await new Promise<void>((r) => b.close(() => r()));
  assert.equal(second, SUPPORTED ? "bound" : "EADDRINUSE");
});

test("--pid-file: written once every listener is bound, removed at a graceful exit", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const pidFile = join(dir, "plain.pid");
  const p = start(["run", "-c", config("plain", 0, up.port), "--pid-file", pidFile, "--no-watch"]);
  await p.waitFor(started, 15_000);
  assert.equal(readFileSync(pidFile, "utf8"), `${p.child.pid}\n`);
  p.child.kill("SIGTERM");
  assert.equal(await p.exited(10_000), 0);
  assert.equal(existsSync(pidFile), false);
});

test("--pid-file: a proxy that cannot bind writes none", async () => {
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => squatter.close(() => r())));
  const taken = (squatter.address() as { port: number }).port;
  const pidFile = join(dir, "unbound.pid");
  const r = await runCli(["run", "-c", config("unbound", taken, 9), "--pid-file", pidFile, "--no-watch"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot listen/);
  assert.equal(existsSync(pidFile), false);
});

test("--takeover without --pid-file is a usage error (exit 2)", async () => {
  const r = await runCli(["run", "-c", config("usage", 0, 9), "--takeover"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^--takeover needs --pid-file/);
  assert.match(r.stderr, /usage: trunkline run -c FILE \[--pid-file P \[--takeover\]\]/);
});

test("--takeover with a stale pid file: one line, then a normal start (older Node: the refusal, nothing bound)", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const pidFile = join(dir, "stale.pid");
  // Above any pid_max (2^22 on Linux): never a live process.
  writeFileSync(pidFile, "999999999\n");
  const args = ["run", "-c", config("stale", 0, up.port), "--pid-file", pidFile, "--takeover", "--no-watch"];
  if (!SUPPORTED) {
    const r = await runCli(args);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `trunkline: --takeover needs Node >= 22.12 (SO_REUSEPORT); this is Node ${process.versions.node}\n`,
    );
    assert.equal(r.stdout, "", "nothing bound, nothing logged");
    assert.equal(readFileSync(pidFile, "utf8"), "999999999\n");
    return;
  }
  const p = start(args);
  await p.waitFor(started, 15_000);
  assert.equal(
    p.stderr(),
    `trunkline: --takeover: stale pid file ${pidFile}: pid 999999999 is not running; starting without one\n`,
  );
  assert.equal(readFileSync(pidFile, "utf8"), `${p.child.pid}\n`);
  const s = await agiCall({ port: Number((await p.waitFor((l) => l.msg === "listening")).port) });
  assert.equal(s.status, "SUCCESS");
  p.child.kill("SIGTERM");
  assert.equal(await p.exited(10_000), 0);
  assert.equal(existsSync(pidFile), false);
});

test("--takeover: the new proxy binds beside the old, which then drains; its session in flight finishes, new ones land on the new (older Node: refused, the old one serves on)", async () => {
  // Held until the old proxy has begun to drain (or 18 s): the new process's start on a loaded
  // machine took over 6 s in a CI run with two CPU hogs, and a fixed hold had ended by then.
  let release = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  const up = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 18_000, release: released });
  cleanup.push(up.close);
  const [port, admin] = [await freePort(), await freePort()];
  const pidFile = join(dir, "live.pid");
  const cfg = config("live", port, up.port, admin);
  const old = start(["run", "-c", cfg, "--pid-file", pidFile, "--no-watch"]);
  await old.waitFor(started, 15_000);
  const held = agiCall({ port, url: "agi://x/held", timeoutMs: 20_000 });
  await until(() => up.stats.active === 1, "the held session reached the server");

  const next = start(["run", "-c", cfg, "--pid-file", pidFile, "--takeover", "--no-watch"]);
  if (!SUPPORTED) {
    assert.equal(await next.exited(15_000), 1);
    release();
    assert.equal(
      next.stderr(),
      `trunkline: --takeover needs Node >= 22.12 (SO_REUSEPORT); this is Node ${process.versions.node}\n`,
    );
    assert.equal((await held).status, "SUCCESS");
    assert.equal((await agiCall({ port, timeoutMs: 20_000 })).status, "SUCCESS");
    assert.equal(readFileSync(pidFile, "utf8"), `${old.child.pid}\n`);
    assert.equal(old.child.exitCode, null, "the old proxy runs on");
    return;
  }
  const took = await next.waitFor((l) => l.event === "takeover", 15_000);
  assert.equal(took.pid, old.child.pid);
  assert.match(String(took.msg), /^took over: pid \d+ stops accepting and drains its sessions/);
  const stopping = await old.waitFor((l) => l.event === "shutdown" && l.signal === "SIGTERM");
  release();
  assert.equal(stopping.sessions, 1, "the old proxy drains with the held session");
  assert.equal(readFileSync(pidFile, "utf8"), `${next.child.pid}\n`);
  // The old proxy closes its admin API, then its listening socket: from then on the port is the new one's.
  await until(() => {
    const pids = listeningPids(port);
    return pids.length === 1 && pids[0] === next.child.pid;
  }, "only the new proxy listens");

  const fresh = await agiCall({ port, url: "agi://x/fresh", timeoutMs: 20_000 });
  assert.equal(fresh.status, "SUCCESS");
  await next.waitFor((l) => sessionEnded(l) && l.request === "agi://x/fresh");
  const first = await held;
  assert.equal(first.status, "SUCCESS");
  assert.deepEqual(first.commands, ["NOOP", "NOOP"]);
  assert.equal(await old.exited(10_000), 0);
  assert.deepEqual(
    old.lines.filter(sessionEnded).map((l) => l.request),
    ["agi://x/held"],
    "the old proxy ran only the session it had",
  );
  assert.equal(
    readFileSync(pidFile, "utf8"),
    `${next.child.pid}\n`,
    "the old proxy left the file to its successor",
  );
  // The admin API (bound beside the old one's, which closed it as it drained) is the new proxy's.
  const status = (await (await fetch(`http://127.0.0.1:${admin}/api/v1/status`)).json()) as { pid: number };
  assert.equal(status.pid, next.child.pid);
  next.child.kill("SIGTERM");
  assert.equal(await next.exited(10_000), 0);
  assert.equal(existsSync(pidFile), false);
});

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The pids holding a listening TCP socket on a port (ss(8): what the kernel says, not a log line). */
function listeningPids(port: number): number[] {
  const out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8" });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}
